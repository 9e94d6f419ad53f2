"""Self-relocation: the environment relocates itself the first time its Python starts
from a new place, before any user code runs.

Shipped in every archive as site-packages/_conda_package_autorelocate.py and imported by
_conda_package_autorelocate.pth, which `site` runs at every start of the environment's
Python (also with -I and -E; not with -S, which skips `site`). Clusters start
./environment/bin/python straight from the extracted archive, so nothing else would run
bin/conda-unpack there. Stdlib only, Python 3.7; no imports beyond os and sys unless the
environment has moved, so that a start where nothing moved costs microseconds.
"""

import os
import sys

SHIPPED_NAME = "_conda_package_autorelocate"
OPT_OUT = "CONDA_PACKAGE_NO_AUTORELOCATE"
VERBOSE = "CONDA_PACKAGE_VERBOSE"
_STATE_DIR = os.path.join("conda-meta", "conda-package")


def environment_prefix(module_file: str) -> str:
    """The environment holding site-packages/this file: lib/pythonX.Y/site-packages/x.py.

    Resolved: YARN links each container's ./environment to one shared extracted copy, so
    the real path is the one all containers agree on (bin/conda-unpack uses it too).
    """
    site_packages = os.path.dirname(os.path.abspath(module_file))
    return os.path.realpath(os.path.dirname(os.path.dirname(os.path.dirname(site_packages))))


def moved(prefix: str) -> bool:
    """Whether the environment was last relocated to anywhere but `prefix`."""
    try:
        with open(os.path.join(prefix, _STATE_DIR, "prefix"), "rb") as f:
            recorded = f.read()
    except FileNotFoundError:
        return os.path.exists(os.path.join(prefix, _STATE_DIR, "manifest.json"))
    except OSError:
        return False
    return recorded != prefix.encode("utf-8", "surrogateescape") + b"\n"


def _warn(message: str) -> None:
    sys.stderr.write(
        "conda-package: " + message + " (set " + OPT_OUT + "=1 to start without this)\n"
    )


def relocate(prefix: str) -> None:
    """Run bin/conda-unpack in a child Python (-I -S: no `site`, so no recursion, and
    nothing of it lands in this process's modules); it takes the environment's lock, so
    when many processes start at once one relocates and the others wait for it."""
    state_dir = os.path.join(prefix, _STATE_DIR)
    if not os.access(state_dir, os.W_OK):
        _warn(
            "this environment moved to " + prefix + " but is read-only, so files that name "
            "its old path keep it; relocate it where it is writable (bin/conda-unpack)"
        )
        return
    import subprocess

    command = [sys.executable or os.path.join(prefix, "bin", "python"), "-I", "-S"]
    command += [os.path.join(prefix, "bin", "conda-unpack"), "--prefix", prefix, "--shared"]
    env = dict(os.environ, **{OPT_OUT: "1"})
    done = subprocess.run(command, env=env, capture_output=True)
    said = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    if done.returncode != 0:
        _warn("could not relocate this environment to " + prefix + ": " + said)
    elif os.environ.get(VERBOSE, "") not in ("", "0"):
        sys.stderr.write(said + "\n")


def relocate_if_moved(module_file: str) -> None:
    """What the .pth runs: never raises, so that Python always starts."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return
    try:
        prefix = environment_prefix(module_file)
        if moved(prefix):
            relocate(prefix)
    except Exception as e:  # a broken relocation must not stop Python
        _warn("could not relocate this environment: " + str(e))


if __name__ == SHIPPED_NAME:
    relocate_if_moved(__file__)
