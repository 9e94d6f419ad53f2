"""Start-up with and without byte-code, from an extracted read-only archive.

Usage: python benchmarks/bench_bytecode.py [PREFIX] [--repeat R]

Without PREFIX it builds the real environment from ../shared/conda-pkgs (py-rattler,
offline), which holds no byte-code, like an environment whose byte-code was left out. It is
packed twice (plain, and with --compile-bytecode), each archive extracted, relocated with
bin/conda-unpack and made read-only; then the import below runs R times in each, taking
turns, with PYTHONDONTWRITEBYTECODE=1 (as on a read-only install). Medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conda_package.core import Environment, PackOptions, pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix

IMPORTS = "import pip, json, ssl, sqlite3, email.parser, http.client, asyncio"


def install(archive: Path, target: Path) -> None:
    target.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(target)], check=True)
    subprocess.run([str(target / "bin/conda-unpack"), "-q"], check=True)
    subprocess.run(["chmod", "-R", "a-w", str(target)], check=True)


def timed_import(prefix: Path) -> float:
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    start = time.perf_counter()
    subprocess.run([str(prefix / "bin/python"), "-c", IMPORTS], check=True, env=env, cwd="/")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bytecode-"))
    try:
        env = Environment.load(benchmark_prefix(args.prefix, work))
        print(f"environment: {env.prefix}, {len(env.files)} files")
        trees = {}
        for label, compile_bytecode in (("without byte-code", False), ("with byte-code", True)):
            archive = work / f"{compile_bytecode}.tar.gz"
            result = pack(env, PackOptions(output=str(archive), compile_bytecode=compile_bytecode))
            pycs = sum(name.endswith(".pyc") for name in result.names)
            print(
                f"{label:18} pack {result.seconds:5.2f} s, {result.bytes_out / 2**20:5.1f} MiB,"
                f" {pycs} .pyc files"
            )
            trees[label] = work / f"env-{compile_bytecode}"
            install(archive, trees[label])
        times: dict[str, list[float]] = {label: [] for label in trees}
        for _ in range(args.repeat):
            for label, tree in trees.items():
                times[label].append(timed_import(tree))
        print(f"`python -c '{IMPORTS}'`, read-only tree, median of {args.repeat}:")
        for label, runs in times.items():
            print(
                f"  {label:18} {statistics.median(runs):6.3f} s  (runs: "
                + ", ".join(f"{t:.2f}" for t in runs)
                + ")"
            )
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
