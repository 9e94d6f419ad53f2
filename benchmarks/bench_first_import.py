"""From the file on disk to the first `python -c 'import json, ssl, sqlite3'` finishing: a
squashfs image mounted with squashfuse against tar.gz and tar.zst extracted and activated.

Usage: python benchmarks/bench_first_import.py [PREFIX] [--repeat R] [--threads N]
                                               [--extract-dir DIR]

Without PREFIX it builds the real environment from ../shared/conda-pkgs (which ships no
byte-code). Each way is timed as a user would type it, in one `bash -c` (conda-pack's
activate needs bash):
  image   squashfuse IMAGE MNT; MNT/bin/python -c ...; fusermount -u MNT
  tar     mkdir D; tar -xzf (or zstd -dc | tar -x) ...; . D/bin/activate (it relocates on
          first use); python -c ...
The extracted folder (in a temporary folder, or in --extract-dir, say /dev/shm for a disk
that costs nothing) is removed after each run, outside the timing. The archives are packed
once and read before timing, so the page cache is warm: a cold read (after a reboot, from
Lustre) adds the archive's reading to every row. The commands take turns for R rounds;
medians. Python may write byte-code (no PYTHON* variables), as on a user's machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pack import BIN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix

IMPORTS = "import json, ssl, sqlite3"
TOOLS = ("squashfuse", "fusermount", "tar", "zstd")


def timed(script: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONDA"))}
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"failed: {script}\n{done.stderr}")
    return wall


def _remove_link(image: Path, mnt: Path) -> None:
    """The link bin/cpk-run made in /tmp for the mount-anywhere image."""
    subprocess.run(["squashfuse", str(image), str(mnt)], check=True)
    try:
        link = Path((mnt / "conda-meta/conda-package/prefix").read_text().strip())
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], check=True)
    if link.is_symlink():
        link.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--extract-dir", help="where the archives are extracted")
    args = parser.parse_args()
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or not os.path.exists("/dev/fuse"):
        raise SystemExit(
            f"needs {', '.join(missing) or '/dev/fuse'}: apt-get install squashfuse fuse3 zstd"
        )
    with tempfile.TemporaryDirectory(prefix="bench-first-import-") as tmp:
        work = Path(tmp)
        prefix = benchmark_prefix(args.prefix, work)
        mnt = work / "mnt"
        target = Path(args.extract_dir or work) / f"bench-extracted-{os.getpid()}"
        mnt.mkdir()
        exe = [str(BIN / "conda-package"), "-p", prefix, "-q", "-j", str(args.threads)]
        packs = {
            "point.sqfs": ["--relocate-prefix", str(mnt)],
            "anywhere.sqfs": [],
            "env.tar.gz": [],
            "env.tar.zst": ["--zstd"],
            "bytecode.tar.gz": ["--compile-bytecode"],
            "bytecode.tar.zst": ["--zstd", "--compile-bytecode"],
        }
        for name, options in packs.items():
            subprocess.run([*exe, *options, "-o", str(work / name)], check=True)
        run = f"python -c '{IMPORTS}'"
        gz = f"mkdir {target} && tar -xzf {work}/{{}} -C {target}"
        zst = f"mkdir {target} && zstd -dcq {work}/{{}} | tar -xf - -C {target}"
        activate = f" && . {target}/bin/activate && {run}"
        mount = f"squashfuse {work}/{{}} {mnt} && {mnt}/bin/{{}}{run}; s=$?; fusermount -u {mnt}"
        mount += "; exit $s"
        ways = {
            "image for its mount point: squashfuse + import + unmount": mount.format(
                "point.sqfs", ""
            ),
            "image, mount anywhere: squashfuse + bin/cpk-run + unmount": mount.format(
                "anywhere.sqfs", f"cpk-run {mnt}/bin/"
            ),
            "tar.gz (no byte-code): tar -xzf + activate + import": gz.format("env.tar.gz")
            + activate,
            "tar.zst (no byte-code): zstd -dc | tar -x + activate + import": zst.format(
                "env.tar.zst"
            )
            + activate,
            "tar.gz: tar -xzf alone (no activate, no import)": gz.format("env.tar.gz"),
            "tar.zst: zstd -dc | tar -x alone": zst.format("env.tar.zst"),
            "tar.gz --compile-bytecode: the same": gz.format("bytecode.tar.gz") + activate,
            "tar.zst --compile-bytecode: the same": zst.format("bytecode.tar.zst") + activate,
        }
        if importlib.util.find_spec("conda_pack") is not None:
            cp = [str(BIN / "conda-pack"), "-p", prefix, "-q", "-j", str(args.threads)]
            subprocess.run([*cp, "-o", str(work / "cp.tar.gz")], check=True)
            cp_sqfs = ["--format", "squashfs", "--dest-prefix", str(mnt)]
            subprocess.run([*cp, *cp_sqfs, "-o", str(work / "cp.squashfs")], check=True)
            unpack = f" && . {target}/bin/activate && conda-unpack && {run}"
            ways["conda-pack 0.9.2 tar.gz: tar -xzf + activate + conda-unpack + import"] = (
                gz.format("cp.tar.gz") + unpack
            )
            ways["conda-pack 0.9.2 squashfs (--dest-prefix): squashfuse + import"] = mount.format(
                "cp.squashfs", ""
            )
        else:
            print("conda-pack not installed: pip install conda-pack==0.9.2 to compare")
        subprocess.run(["tar", "-cf", "/dev/null", "-C", str(work), "."], check=True)  # warm
        walls: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.repeat):
            for way, script in ways.items():
                walls[way].append(timed(script))
                shutil.rmtree(target, ignore_errors=True)
        _remove_link(work / "anywhere.sqfs", mnt)
        for way, times in walls.items():
            runs = " ".join(f"{t:.2f}" for t in times)
            print(f"{way:72} {statistics.median(times):6.2f} s  (runs: {runs})", flush=True)


if __name__ == "__main__":
    main()
