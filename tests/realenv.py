"""Build real conda environments offline with py-rattler, from packages on disk.

Used by the test fixtures and by the benchmarks, so both measure the same thing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

SHARED_PKGS = Path(__file__).resolve().parents[2] / "shared" / "conda-pkgs"

# Four 2018 packages pin these to 7.2.0.*; only libgcc-ng 8.2.0 is shipped (the upstream
# channel relaxed the same specs in its repodata long ago).
_RELAXED = {
    "libgcc-ng 7.2.0.*": "libgcc-ng >=7.2.0",
    "libstdcxx-ng 7.2.0.*": "libstdcxx-ng >=7.2.0",
}


def shared_pkgs_dir() -> Path | None:
    """The folder of real conda packages, or None when this machine has none."""
    path = Path(os.environ.get("CONDA_PACKAGE_TEST_PKGS", SHARED_PKGS))
    return path if path.is_dir() and any(path.glob("python-3*")) else None


def _package_subdir(pkg: Path) -> str:
    if pkg.name.endswith(".conda"):
        with zipfile.ZipFile(pkg) as zf:
            info = next(n for n in zf.namelist() if n.startswith("info-"))
            import io

            import zstandard

            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zf.read(info)))
            with tarfile.open(fileobj=raw, mode="r|") as tf:
                for member in tf:
                    if member.name == "info/index.json":
                        return json.load(tf.extractfile(member))["subdir"]
    else:
        with tarfile.open(pkg) as tf:
            return json.load(tf.extractfile("info/index.json"))["subdir"]
    raise ValueError(f"{pkg}: no info/index.json")


def make_channel(packages: list[Path], channel: Path) -> Path:
    """Lay packages out as a local channel with repodata.json for each subdir."""
    import rattler.index

    for pkg in packages:
        subdir = channel / _package_subdir(pkg)
        subdir.mkdir(parents=True, exist_ok=True)
        target = subdir / pkg.name
        if not target.exists():
            try:
                os.link(pkg, target)
            except OSError:
                shutil.copy2(pkg, target)
    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    asyncio.run(rattler.index.index_fs(channel, write_zst=False, write_shards=False))
    for repodata in channel.glob("*/repodata.json"):
        text = repodata.read_text()
        for old, new in _RELAXED.items():
            text = text.replace(json.dumps(old), json.dumps(new))
        repodata.write_text(text)
    return channel


def install(channel: Path, specs: list[str], prefix: Path, cache_dir: Path) -> Path:
    """Solve specs against the local channel and install them into prefix."""
    import rattler

    async def run() -> None:
        records = await rattler.solve(
            [rattler.Channel(channel.as_uri())], specs, platforms=["linux-64", "noarch"]
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=cache_dir, show_progress=False
        )

    asyncio.run(run())
    return prefix


def package_names(pkgs_dir: Path) -> list[str]:
    names = []
    for pkg in sorted(pkgs_dir.iterdir()):
        for suffix in (".conda", ".tar.bz2"):
            if pkg.name.endswith(suffix):
                names.append(pkg.name[: -len(suffix)].rsplit("-", 2)[0])
    return names


def build_real_env(prefix: Path, work: Path, pkgs_dir: Path | None = None) -> Path:
    """Install every shared package into prefix (the 'real environment' of the issues)."""
    pkgs_dir = pkgs_dir or shared_pkgs_dir()
    if pkgs_dir is None:
        raise FileNotFoundError("no real conda packages on this machine")
    packages = [p for p in sorted(pkgs_dir.iterdir()) if p.name.endswith((".conda", ".tar.bz2"))]
    channel = make_channel(packages, work / "channel")
    return install(channel, package_names(pkgs_dir), prefix, work / "pkgs")


def benchmark_prefix(prefix: str | None, work: Path) -> str:
    """The benchmarks' environment: the one given, or the real one built under `work`;
    read once so that every measurement starts with a warm page cache."""
    import subprocess

    path = os.path.abspath(prefix) if prefix else str(build_real_env(work / "env", work / "build"))
    subprocess.run(["tar", "-cf", "/dev/null", "-C", path, "."], check=True)
    return path


if __name__ == "__main__":
    import sys
    import time

    start = time.perf_counter()
    target = Path(sys.argv[1]).resolve()
    build_real_env(target, target.parent / (target.name + "-work"))
    print(f"built {target} in {time.perf_counter() - start:.1f} s")
