"""What a parcel holds besides the environment: meta/parcel.json, which Cloudera Manager
reads, and meta/conda_env.sh, the script it sources before starting a service."""

from __future__ import annotations

import json

from ..errors import CondaPackageError
from ..load import Environment
from ..plan import PackPlan, Parcel

# Sourced by the Cloudera agent, which sets PARCELS_ROOT and PARCEL_DIRNAME: Spark finds
# the environment's Python in CDH_PYTHON, and the packages' activation scripts run.
CONDA_ENV_SH = b"""\
#!/bin/bash
_conda_parcel_prefix="${PARCELS_ROOT}/${PARCEL_DIRNAME}"
if [ -z "${CDH_PYTHON}" ]; then
    export CDH_PYTHON="${_conda_parcel_prefix}/bin/python"
fi
for _conda_parcel_script in "${_conda_parcel_prefix}"/etc/conda/activate.d/*.sh; do
    if [ -f "${_conda_parcel_script}" ]; then
        . "${_conda_parcel_script}"
    fi
done
unset _conda_parcel_prefix _conda_parcel_script
"""


def parcel_json(parcel: Parcel, env: Environment) -> dict:
    """The fields conda-pack 0.9.2 writes: one component, the environment's packages as
    NAME with VERSION-BUILD, and conda_env.sh as the script that defines the environment."""
    return {
        "components": [
            {"name": parcel.name, "pkg_version": parcel.version, "version": parcel.version}
        ],
        "extraVersionInfo": {
            "baseVersion": parcel.version,
            "fullVersion": f"{parcel.version}-{parcel.distro}",
            "patchCount": "0",
        },
        "groups": [],
        "name": parcel.name,
        "packages": [
            {"name": r.name, "version": f"{r.version}-{r.build}"}
            for r in sorted(env.records, key=lambda r: r.name)
        ],
        "provides": ["spark-plugin"],
        "schema_version": 1,
        "scripts": {"defines": "conda_env.sh"},
        "setActiveSymlink": True,
        "users": {},
        "version": parcel.version,
    }


def parcel_files(parcel: Parcel, env: Environment) -> dict[str, tuple[bytes, int]]:
    """Archive path (inside NAME-VERSION/) -> (bytes, permission bits)."""
    text = json.dumps(parcel_json(parcel, env), indent=2, sort_keys=True) + "\n"
    return {
        "meta/conda_env.sh": (CONDA_ENV_SH, 0o644),
        "meta/parcel.json": (text.encode(), 0o644),
    }


def check_meta_free(plan: PackPlan) -> None:
    """A parcel's meta/ is Cloudera's: an environment with its own cannot be one."""
    taken = next((e.name for e in plan.entries if e.name.split("/")[0] == "meta"), None)
    if taken:
        raise CondaPackageError(
            f"{taken}: the environment has a top-level meta/, where a parcel keeps"
            " parcel.json; move it, or leave it out with --exclude 'meta/*'"
        )
