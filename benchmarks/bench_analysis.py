"""Relocation analysis (`--check`): a cold look and a repeat with the same cache.

Usage: python benchmarks/bench_analysis.py [PREFIX] [--threads N] [--repeat R]

Without PREFIX it builds the real environment from ../shared/conda-pkgs (py-rattler,
offline). Environment.load is not timed. Cold: a fresh in-memory AnalysisCache, page cache
warm (the issue's targets: cold < 2 s, cached < 0.3 s on a 2-core machine). Best of R.
A round trip through the persisted cache file is timed too, since --check starts that way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from conda_package.core.analyse import AnalysisCache, Severity, analyse
from conda_package.core.load.environment import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--threads", type=int, default=0, help="0: one per core")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    try:
        prefix = benchmark_prefix(args.prefix, work)
        env = Environment.load(prefix)
        print(f"environment: {prefix}, {len(env.files)} files, cores: {os.cpu_count()}")

        cold, cached, loaded = [], [], []
        for n in range(args.repeat):
            cache = AnalysisCache(None)
            report = analyse(env, threads=args.threads, cache=cache)
            cold.append(report.seconds)
            again = analyse(env, threads=args.threads, cache=cache)
            cached.append(again.seconds)
            assert again.findings == report.findings and cache.hits == cache.misses

            path = str(work / f"cache-{n}.json")  # absent: as cold as AnalysisCache(None)
            persisted = AnalysisCache(path)
            analyse(env, threads=args.threads, cache=persisted)
            persisted.save()
            start = time.perf_counter()
            analyse(env, threads=args.threads, cache=AnalysisCache(path))
            loaded.append(time.perf_counter() - start)

        counts = ", ".join(f"{s.value}: {report.count(s)}" for s in Severity)
        print(f"findings: {counts}; {len(report.files)} files shown; room {report.room}")
        print(f"cold analysis:            {min(cold):6.3f} s  (target < 2 s)")
        print(f"repeat, same cache:       {min(cached):6.3f} s  (target < 0.3 s)")
        print(f"repeat, cache from disk:  {min(loaded):6.3f} s  (load + analyse)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
