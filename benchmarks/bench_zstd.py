"""tar.zst packing: this checkout against another (say, before a change), and tar | zstd.

Usage: python benchmarks/bench_zstd.py [PREFIX] [--baseline CHECKOUT] [--level N] [--repeat R]

CHECKOUT is another source tree of conda-package, e.g. made with
`mkdir /tmp/old && git archive COMMIT core tui | tar -x -C /tmp/old`; it runs with this
Python and its packages, so only the code differs. The commands take turns
for R rounds (see bench_pack.py); each line gives the median time, the size, and how many
zstd frames the output holds (python-zstandard's one-shot decompress() reads only the first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_pack import BIN, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix

_RUN_MAIN = "import sys; from conda_package.core.cli.main import main; sys.exit(main())"


def checkout_command(checkout: Path, work: Path) -> list[str]:
    """Run another checkout's CLI: its core/ and tui/ first on the path, as one package."""
    package = work / "baseline" / "conda_package"
    package.mkdir(parents=True)
    for room in ("core", "tui"):
        (package / room).symlink_to(checkout.resolve() / room)
    return ["env", f"PYTHONPATH={package.parent}", sys.executable, "-c", _RUN_MAIN]


def frames(path: Path) -> str:
    if not shutil.which("zstd"):
        return "?"
    listing = subprocess.run(["zstd", "-l", str(path)], capture_output=True, text=True)
    return listing.stdout.splitlines()[1].split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--baseline", type=Path, help="another conda-package checkout")
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-zstd-"))
    try:
        prefix = benchmark_prefix(args.prefix, work)
        out = work / "out"
        out.mkdir()
        level, n = str(args.level), str(args.threads)
        print(f"environment: {prefix}, level {level}, threads: {n}, cores: {os.cpu_count()}")
        pack = ["-p", prefix, "--zstd-compression-level", level, "-q", "-j", n, "-o"]
        jobs = {
            "new": (
                "this checkout",
                [str(BIN / "conda-package"), *pack, str(out / "new.tar.zst")],
                out / "new.tar.zst",
            )
        }
        if args.baseline:
            base = [*checkout_command(args.baseline, work), *pack, str(out / "old.tar.zst")]
            jobs["old"] = (f"baseline {args.baseline}", base, out / "old.tar.zst")
        if shutil.which("zstd"):
            tar = f"tar -cf - -C '{prefix}' . | zstd -q -T{n} -{level}"
            jobs["zstd"] = (
                f"tar | zstd -T{n}",
                ["bash", "-c", f"{tar} -o '{out}/t.tar.zst'"],
                out / "t.tar.zst",
            )
        rows = measure(jobs, args.repeat)
        print()
        for key, (name, _, path) in jobs.items():
            print(f"{name}: {frames(path)} frame(s), {rows[key]['wall']:.2f} s")
        if "old" in rows:
            ratio = rows["new"]["wall"] / rows["old"]["wall"]
            size = rows["new"]["size"] / rows["old"]["size"] - 1
            print(f"this checkout / baseline: {ratio:.2f}x the time, size {size:+.1%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
