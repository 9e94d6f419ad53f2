"""squashfs images: conda-package against mksquashfs of an already relocated copy and
against conda-pack 0.9.2's squashfs, at the same compressor, level and block size.

Usage: python benchmarks/bench_squashfs.py [PREFIX] [--threads N] [--repeat R] [--level L]
                                          [--baseline EXE] [--env-bytecode]

conda-pack's --compress-level N means zstd level int(N / 8 * 20) with 256 KiB blocks, so the
default --level 2 (conda-pack's --compress-level 1) compares all three at zstd 2, 256 KiB.
Also shown: mksquashfs and tar2sqfs reading the same relocated tar on stdin (tar2sqfs
built our images before we wrote them ourselves). Our images hold byte-code compiled at
pack time (the real environment ships none), so the copy and the tar the builders read
hold the same byte-code (packed with --compile-bytecode), and the compile alone is timed
too, to tell the builder's share from the compiler's (the packer writes what sorts before
the byte-code while it compiles, so the two overlap).
Ours is timed twice: a first pack, its byte-code cache empty (a fresh XDG_CACHE_HOME each
run), and a pack of the same environment again, the byte-code taken from the cache.
--env-bytecode compiles the built environment's library first (compileall), as conda
leaves an environment whose packages ship their byte-code: then nothing is left to compile.
--baseline EXE adds another conda-package (a regular install of an older commit) to the
turns, to measure a change old against new under the same load. The commands take turns
for R rounds; medians, page cache warm; CPU seconds are the command's and its children's.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_pack import BIN, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix

MOUNT = "/opt/envs/bench"  # the mount point every image is relocated to
BLOCK = 256 << 10
# What the packer does before the image's first byte: load, plan, compile the byte-code
# into a temporary folder. argv: prefix, mount point, threads, a file for the .pyc count.
COMPILE = """
import sys, tempfile
from conda_package.core.load import Environment
from conda_package.core.plan import make_plan
from conda_package.core.write.bytecode import compile_bytecode
env = Environment.load(sys.argv[1])
plan = make_plan(env, relocate_prefix=sys.argv[2])
with tempfile.TemporaryDirectory(dir=sys.argv[4].rpartition("/")[0]) as into:
    names = compile_bytecode(env, plan, into, sys.argv[2], int(sys.argv[3])).files
open(sys.argv[4], "w").write(str(len(names)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--level", type=int, default=2, help="zstd level (2: conda-pack's 1)")
    parser.add_argument("--baseline", help="another conda-package executable to time too")
    parser.add_argument("--env-bytecode", action="store_true", help="compileall the env first")
    args = parser.parse_args()
    if args.env_bytecode and args.prefix:
        parser.error("--env-bytecode compiles into the environment it builds: give no PREFIX")
    for tool in ("tar2sqfs", "mksquashfs"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install squashfs-tools squashfs-tools-ng")
    with tempfile.TemporaryDirectory(prefix="bench-squashfs-") as tmp:
        work = Path(tmp)
        prefix = benchmark_prefix(args.prefix, work)
        if args.env_bytecode:
            library = f"{prefix}/lib/python3.7"
            compileall = [f"{prefix}/bin/python", "-m", "compileall", "-q", "-j", "0", library]
            subprocess.run(compileall, stdout=subprocess.DEVNULL, check=False)
        exe = str(BIN / "conda-package")
        cold, warm = work / "cold-cache", work / "warm-cache"
        # A first pack: an empty byte-code cache each run. Again: the cache filled once.
        first = ["sh", "-c", f'rm -rf {cold} && XDG_CACHE_HOME={cold} exec "$@"', "sh"]
        again = ["env", f"XDG_CACHE_HOME={warm}"]
        copy, tar = work / "relocated", work / "relocated.tar"
        for output, fmt in ((copy, "dir"), (tar, "tar")):
            relocated = ["--format", fmt, "-o", str(output), "--relocate-prefix", MOUNT]
            relocated.append("--compile-bytecode")
            subprocess.run([exe, "-p", prefix, "-q", *relocated], check=True)
        level, threads = str(args.level), str(args.threads)
        ours = [exe, "-p", prefix, "-j", threads, "-q", "--compression-level", level]
        ours += ["--squashfs-block-size", str(BLOCK), "--force"]
        for where in ("--relocate-prefix", MOUNT), ():
            prime = [*again, *ours, *where, "-o", str(work / "prime.squashfs")]
            subprocess.run(prime, check=True)
        mks = ["-comp", "zstd", "-Xcompression-level", level, "-b", str(BLOCK)]
        mks += ["-processors", threads, "-noappend", "-quiet", "-no-progress"]
        t2s = ["tar2sqfs", "-q", "-f", "-c", "zstd", "-X", f"level={level}", "-b", str(BLOCK)]
        jobs = {
            "ours_mount": (
                f"conda-package --relocate-prefix (zstd {level})",
                [*first, *ours, "--relocate-prefix", MOUNT, "-o", str(work / "a.squashfs")],
                work / "a.squashfs",
            ),
            "ours_anywhere": (
                "conda-package, mount anywhere",
                [*first, *ours, "-o", str(work / "b.squashfs")],
                work / "b.squashfs",
            ),
            "again_mount": (
                "  the same packed again (byte-code cached)",
                [*again, *ours, "--relocate-prefix", MOUNT, "-o", str(work / "i.squashfs")],
                work / "i.squashfs",
            ),
            "again_anywhere": (
                "  mount anywhere, packed again",
                [*again, *ours, "-o", str(work / "j.squashfs")],
                work / "j.squashfs",
            ),
            "mksquashfs_dir": (
                "mksquashfs DIR (relocated copy, no work)",
                ["mksquashfs", str(copy), str(work / "c.squashfs"), *mks, "-all-root"],
                work / "c.squashfs",
            ),
            "mksquashfs_tar": (
                "mksquashfs -tar < relocated tar",
                ["sh", "-c", f"mksquashfs - {work}/d.squashfs -tar {' '.join(mks)} < {tar}"],
                work / "d.squashfs",
            ),
            "tar2sqfs_tar": (
                "tar2sqfs < relocated tar",
                ["sh", "-c", f"{' '.join(t2s)} -j {threads} {work}/e.squashfs < {tar}"],
                work / "e.squashfs",
            ),
        }
        if args.baseline:
            base_exe = [args.baseline, *ours[1:]]
            jobs["base_mount"] = (
                "  baseline --relocate-prefix",
                [*first, *base_exe, "--relocate-prefix", MOUNT, "-o", str(work / "g.squashfs")],
                work / "g.squashfs",
            )
            jobs["base_anywhere"] = (
                "  baseline, mount anywhere",
                [*first, *base_exe, "-o", str(work / "h.squashfs")],
                work / "h.squashfs",
            )
        jobs["compile"] = (
            "  of which: load, plan, compile byte-code",
            [sys.executable, "-c", COMPILE, prefix, MOUNT, threads, str(work / "compiled")],
            work / "compiled",
        )
        if importlib.util.find_spec("conda_pack") is not None:
            conda_pack = [str(BIN / "conda-pack"), "-p", prefix, "--format", "squashfs", "-q"]
            conda_pack += ["--dest-prefix", MOUNT, "--compress-level", "1", "-j", threads]
            output = work / "f.squashfs"
            jobs["conda_pack"] = (
                "conda-pack 0.9.2 --dest-prefix (--compress-level 1)",
                [*conda_pack, "-o", str(output), "--force"],
                output,
            )
        else:
            print("conda-pack not installed: pip install conda-pack==0.9.2 to compare")
        rows = measure(jobs, args.repeat)
        base = rows["mksquashfs_dir"]
        for key in ("ours_mount", "ours_anywhere", "again_mount", "again_anywhere"):
            ours = rows[key]
            print(
                f"{key}: {ours['wall'] / base['wall']:.2f}x the time of mksquashfs of the copy,"
                f" {ours['cpu'] / base['cpu']:.2f}x its CPU seconds"
            )
            if args.baseline and key.startswith("ours"):
                old = rows[key.replace("ours", "base")]["wall"]
                print(f"{key}: {ours['wall'] / old:.2f}x the baseline's time")
        if "conda_pack" in rows:
            for key in ("ours_mount", "ours_anywhere", "again_mount", "again_anywhere"):
                ratio = rows["conda_pack"]["wall"] / rows[key]["wall"]
                print(f"{key}: {ratio:.2f}x faster than conda-pack (whose image has no byte-code)")
            if args.baseline:
                ratio = rows["conda_pack"]["wall"] / rows["base_mount"]["wall"]
                print(f"base_mount: {ratio:.2f}x faster than conda-pack")


if __name__ == "__main__":
    main()
