"""`conda-package --check`: the relocation findings of an environment, for people and scripts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .. import (
    Environment,
    Finding,
    RelocationReport,
    Severity,
    analyse,
    default_cache,
    is_demo,
    path_kept,
    shown_prefix,
    target_findings,
)
from .squashfs import image_findings

_HEADINGS = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "info"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word == "info" else f"{n} {word}s"


def summary_line(report: RelocationReport, findings: list[Finding]) -> str:
    """One line for the end of --check and for the packer's --dry-run."""
    counts = [sum(1 for f in findings if f.severity is s) for s in Severity]
    room = f"{report.room} bytes" if report.room is not None else "any"
    return (
        f"# {_plural(counts[0], 'error')}, {_plural(counts[1], 'warning')},"
        f" {_plural(counts[2], 'info')} in {report.scanned:,} files ({report.seconds:.1f} s);"
        f" longest target prefix that fits: {room}"
    )


def _print_files(report: RelocationReport) -> None:
    """-v: what was learnt of each file worth showing, NEEDED resolution included."""
    for path, item in report.files.items():
        facts = [item.kind]
        if item.prefix_mode:
            facts.append(f"{item.prefix_mode} prefix")
        if item.room is not None:
            facts.append(f"room {item.room}")
        print(f"{path}: {', '.join(facts)}")
        for name, where, found in item.needed:
            print(f"    {name}: {where}" + (f" ({found})" if found else ""))


def checked(env: Environment, args: argparse.Namespace) -> tuple[RelocationReport, list[Finding]]:
    """The analysis and its findings for this pack: for its target prefix or image, and
    only of the files its --exclude/--include keep, most severe first."""
    cache = default_cache(env.prefix)
    report = analyse(env, threads=args.threads, cache=cache)
    cache.save()
    extra = target_findings(env, report, args.relocate_prefix) if args.relocate_prefix else ()
    extra += image_findings(env, args)
    kept = path_kept(args.filters)
    order = list(Severity)
    findings = sorted(
        (f for f in (*report.findings, *extra) if kept(f.path)),
        key=lambda f: (order.index(f.severity), f.path, f.code),
    )
    return report, findings


def cmd_check(args: argparse.Namespace, env: Environment) -> int:
    """Exit 1 when any finding is an error: the environment would not work once moved."""
    report, findings = checked(env, args)
    status = 1 if any(f.severity is Severity.ERROR for f in findings) else 0
    if args.json:
        data = {
            "prefix": report.prefix,
            "demo": is_demo(env.prefix),
            "findings": [{**dataclasses.asdict(f), "severity": f.severity.value} for f in findings],
            "packages": [
                {
                    "package": d.package.dist,
                    "cause": d.cause,
                    "missing": list(d.missing),
                    "modified": list(d.modified),
                    "by": [b.dist_info for b in d.by],
                    "reason": d.reason,
                    "fix": d.fix,
                }
                for d in report.packages
            ],
            "room": report.room,
            "counts": {s.value: sum(1 for f in findings if f.severity is s) for s in Severity},
        }
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    if not args.quiet:
        if is_demo(env.prefix):
            print(f"# prefix: {shown_prefix(env.prefix)}")
        if args.verbose:
            _print_files(report)
        for severity in Severity:
            group = [f for f in findings if f.severity is severity]
            if group:
                print(f"# {_HEADINGS[severity]} ({len(group)})")
            for f in group:
                print(f"{f.path} ({f.owner}): {f.message}")
                print(f"    hint: {f.hint}")
        if report.packages:
            print(f"# packages changed since install ({len(report.packages)})")
        for d in report.packages:
            print(f"{d.package.dist}: {d.reason}")
            print(f"    fix: {d.fix}")
    print(summary_line(report, findings))
    return status
