"""Packages the tests build to look like what users have: conda itself, and a package with a
conda-style dist-info that pip can later replace, overwrite or uninstall."""

from __future__ import annotations

from pathlib import Path

from pkgbuild import PLACEHOLDER, make_tar_bz2

SITE = "lib/python3.7/site-packages"

# What conda 23's files hold, cut down to what activation needs: bin/conda is a Python entry
# point with the prefix in its shebang, bin/activate sources etc/profile.d/conda.sh from the
# prefix it was installed at, and `conda activate` evals what `conda shell.posix` prints.
_CONDA_FILES = {
    "bin/conda": f"""#!{PLACEHOLDER}/bin/python
# -*- coding: utf-8 -*-
import sys

from conda.cli import main

if __name__ == "__main__":
    sys.exit(main())
""",
    "bin/activate": f"""#!/bin/sh
_CONDA_ROOT="{PLACEHOLDER}"
# Copyright (C) 2012 Anaconda, Inc
# SPDX-License-Identifier: BSD-3-Clause
\\. "$_CONDA_ROOT/etc/profile.d/conda.sh" || return $?
conda activate "$@"
""",
    "bin/deactivate": f"""#!/bin/sh
_CONDA_ROOT="{PLACEHOLDER}"
# Copyright (C) 2012 Anaconda, Inc
# SPDX-License-Identifier: BSD-3-Clause
\\. "$_CONDA_ROOT/etc/profile.d/conda.sh" || return $?
conda deactivate
""",
    "etc/profile.d/conda.sh": f"""export CONDA_EXE='{PLACEHOLDER}/bin/conda'
export CONDA_PYTHON_EXE='{PLACEHOLDER}/bin/python'

conda() {{
    case "${{1:-}}" in
    activate | deactivate)
        __conda_hook=$("$CONDA_EXE" shell.posix "$@") || return $?
        eval "$__conda_hook"
        unset __conda_hook
        ;;
    *) "$CONDA_EXE" "$@" ;;
    esac
}}
""",
    f"{SITE}/conda/__init__.py": '__version__ = "23.7.4"\n',
    f"{SITE}/conda/cli.py": '''"""conda's command line, as much as the tests need."""
import json
import os
import sys


def main():
    args = sys.argv[1:]
    if args[:2] == ["shell.posix", "activate"]:
        prefix = args[2] if len(args) > 2 else sys.prefix
        path = os.environ.get("PATH", "")
        print("export CONDA_PREFIX='%s'" % prefix)
        print("export CONDA_SHLVL='1'")
        print("export CONDA_DEFAULT_ENV='%s'" % os.path.basename(prefix))
        print("export PATH='%s/bin:%s'" % (prefix, path))
        return 0
    if args[:2] == ["shell.posix", "deactivate"]:
        prefix = os.environ.get("CONDA_PREFIX", "")
        path = ":".join(p for p in os.environ["PATH"].split(":") if p != prefix + "/bin")
        print("unset CONDA_PREFIX CONDA_DEFAULT_ENV")
        print("export CONDA_SHLVL='0'")
        print("export PATH='%s'" % path)
        return 0
    if args[:2] == ["info", "--json"]:
        print(json.dumps({"sys.prefix": sys.prefix, "root_prefix": sys.prefix}))
        return 0
    print("conda: unknown command %r" % args, file=sys.stderr)
    return 2
''',
}
CONDA_TEXT_PREFIX = ("bin/conda", "bin/activate", "bin/deactivate", "etc/profile.d/conda.sh")


def conda_package_files() -> dict[str, bytes]:
    """The conda package's files as it ships them (the placeholder where the prefix goes)."""
    return {path: text.encode() for path, text in _CONDA_FILES.items()}


def make_conda_package(out: Path) -> Path:
    return make_tar_bz2(
        out,
        "conda",
        "23.7.4",
        conda_package_files(),
        build="py37_0",
        text_prefix=CONDA_TEXT_PREFIX,
        depends=("python 3.7.*",),
    )


def conda_dist_info(name: str, version: str, files: list[str]) -> dict[str, bytes]:
    """A dist-info as conda packages of Python libraries install it: INSTALLER says conda,
    and its RECORD lists the package's files (so pip can uninstall them)."""
    dist = f"{SITE}/{name}-{version}.dist-info"
    info = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/INSTALLER": b"conda\n",
    }
    listed = [*files, *info, f"{dist}/RECORD"]
    record = "".join(f"{path[len(SITE) + 1 :]},,\n" for path in listed)
    return {**info, f"{dist}/RECORD": record.encode()}


def make_python_package(out: Path, name: str, version: str, modules: dict[str, str]) -> Path:
    """A conda package of a pure-Python library: modules in site-packages, and its dist-info."""
    files = {f"{SITE}/{path}": text.encode() for path, text in modules.items()}
    files.update(conda_dist_info(name, version, sorted(files)))
    return make_tar_bz2(out, name, version, files, build="py37_0", depends=("python 3.7.*",))
