"""`conda-package -w PATH...`: which package owns each path, from conda-meta/ alone."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import check_prefix, find_owners, find_prefix_of, resolve_name


def _locate(raw: str, fixed: str | None) -> tuple[str | None, str]:
    """The environment holding a path, and the path relative to it ("" when outside)."""
    abspath = os.path.abspath(raw)
    # Resolve the directory, not the last component: bin/python is itself a symlink.
    real = os.path.join(os.path.realpath(os.path.dirname(abspath)), os.path.basename(abspath))
    prefix = fixed or find_prefix_of(real)
    rel = os.path.relpath(real, os.path.realpath(prefix)) if prefix else ""
    if prefix is None or rel == ".." or rel.startswith("../"):
        return None, ""
    return prefix, rel


def cmd_which(args: argparse.Namespace) -> int:
    given = args.prefix or args.prefix_arg or (resolve_name(args.name) if args.name else None)
    fixed = check_prefix(given) if given else None
    located = [_locate(raw, fixed) for raw in args.which]
    by_prefix: dict[str, list[str]] = {}
    for prefix, rel in located:
        if prefix is not None:
            by_prefix.setdefault(prefix, []).append(rel)
    answers = {
        (prefix, found.relpath): found
        for prefix, rels in by_prefix.items()
        for found in find_owners(prefix, rels, args.io_threads)
    }
    results = []
    for raw, (prefix, rel) in zip(args.which, located, strict=True):
        if prefix is None:
            results.append({"path": raw, "prefix": None, "status": "outside"})
            continue
        found = answers[prefix, rel]
        item: dict = {"path": raw, "prefix": prefix, "relpath": rel, "status": found.status}
        if found.package is not None:
            item.update(package=found.package.dist, name=found.package.name)
        elif found.status == "untracked":
            item["pip"] = f"{found.pip.name} {found.pip.version}" if found.pip else None
        results.append(item)
    status = int(any(item["status"] in ("outside", "no such file") for item in results))
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for item in results:
        if item["status"] == "owned":
            line = item["package"]
        elif item["status"] == "untracked":
            line = "untracked" + (f" (pip: {item['pip']})" if item["pip"] else "")
        elif item["status"] == "outside":
            line = "not in a conda environment"
        else:
            line = item["status"]
        print(f"{item['path']}: {line}")
    return status
