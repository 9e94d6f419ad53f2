"""Relocation analysis on real ELF files built with the system C compiler, and on the real env."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from conda_package.core.analyse import (
    AnalysisCache,
    Finding,
    RelocationReport,
    Severity,
    analyse,
    default_cache,
)
from conda_package.core.analyse.elf import is_elf
from conda_package.core.cli.check import summary_line
from conda_package.core.errors import Cancelled
from conda_package.core.load.environment import Environment
from conda_package.core.progress import Progress
from conda_package.core.unpack import replace_binary
from conftest import cli, pip_install

CC = shutil.which("cc")
HOST_SUBDIR = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}.get(platform.machine())
# conda-build's binary placeholder, cut like the real ones, with room to spare for any tmp path.
PLACEHOLDER = "/tmp/build/_h_env_" + "placehold_" * 20
TEXT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

FOO_C = "int foo(void) { return 42; }\n"
GONE_C = "int gone(void) { return 1; }\n"
MAIN_C = "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n"
GONE_MAIN_C = "int gone(void);\nint main(void) { return gone(); }\n"
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
# The "Z" right after the terminator leaves no NUL for a longer prefix to grow into.
RODATA_C = (
    '#include <stdio.h>\nstatic const char where[] = "{prefix}/share\\0Z";\n'
    "int main(void) {{ puts(where); return 0; }}\n"
)


@pytest.fixture(scope="module")
def compiler() -> str:
    if CC is None:
        pytest.skip("no C compiler (`cc`) on PATH: these tests build real ELF files")
    if HOST_SUBDIR is None:
        pytest.skip(f"no conda subdir known for this machine ({platform.machine()})")
    return CC


def cc(compiler: str, *args: str | Path) -> None:
    subprocess.run([compiler, *map(str, args)], check=True, capture_output=True)


def shared_lib(soname: str) -> tuple[str, ...]:
    return ("-shared", "-fPIC", f"-Wl,-soname,{soname}")


def write_record(prefix: Path, name: str, files: dict[str, dict]) -> None:
    """A minimal conda-meta record: `files` maps each path to its extra paths_data fields."""
    paths = []
    for path, extra in files.items():
        data = (prefix / path).read_bytes()
        paths.append(
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
                **extra,
            }
        )
    record = {
        "name": name,
        "version": "1.0",
        "build": "0",
        "subdir": HOST_SUBDIR,
        "files": list(files),
        "paths_data": {"paths": paths, "paths_version": 1},
    }
    meta = prefix / "conda-meta"
    meta.mkdir(exist_ok=True)
    (meta / f"{name}-1.0-0.json").write_text(json.dumps(record))


def install_with_placeholder(
    prefix: Path, path: str, packaged: bytes, placeholder: str, mode: str
) -> dict:
    """Put `packaged` in place the way conda installs it; return its paths_data fields."""
    if mode == "binary":
        installed = replace_binary(packaged, placeholder.encode(), str(prefix).encode())
    else:
        installed = packaged.replace(placeholder.encode(), str(prefix).encode())
    (prefix / path).write_bytes(installed)
    return {
        "prefix_placeholder": placeholder,
        "file_mode": mode,
        "sha256": hashlib.sha256(packaged).hexdigest(),
        "size_in_bytes": len(packaged),
    }


def make_base(compiler: str, prefix: Path) -> None:
    """A clean environment: package foo (lib/libfoo.so, bin/foo-prog with $ORIGIN/../lib)."""
    src = prefix.parent / "src"
    src.mkdir(exist_ok=True)
    (src / "foo.c").write_text(FOO_C)
    (src / "main.c").write_text(MAIN_C)
    for d in ("lib", "bin", "share"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    lib = prefix / "lib"
    cc(compiler, *shared_lib("libfoo.so"), "-o", lib / "libfoo.so", src / "foo.c")
    prog = prefix / "bin/foo-prog"
    cc(compiler, src / "main.c", f"-L{lib}", "-lfoo", "-Wl,-rpath,$ORIGIN/../lib", "-o", prog)
    write_record(prefix, "foo", {"lib/libfoo.so": {}, "bin/foo-prog": {}})


EXPECTED_ERRORS = [
    ("bin/abs-rpath", "rpath-absolute-into-prefix"),
    ("bin/build-dir", "rpath-outside-prefix"),
    ("bin/missing", "needed-not-found"),
    ("bin/other-arch", "wrong-architecture"),
    ("bin/own-interp", "interpreter-into-prefix"),
    ("bin/rodata", "binary-prefix-no-room"),
    ("share/abs-in", "symlink-absolute-into-prefix"),
]


@dataclass(frozen=True)
class Broken:
    prefix: Path
    outside: Path  # a file next to the environment
    report: RelocationReport

    def codes(self, path: str) -> dict[str, Severity]:
        return {f.code: f.severity for f in self.report.findings if f.path == path}

    def find(self, path: str, code: str) -> list[Finding]:
        return [f for f in self.report.findings if (f.path, f.code) == (path, code)]


def make_broken(compiler: str, prefix: Path) -> Path:
    """Every problem the analysis knows, each in a file of its own."""
    make_base(compiler, prefix)
    src = prefix.parent / "src"
    lib, bindir = prefix / "lib", prefix / "bin"
    (src / "hello.c").write_text(HELLO_C)
    (src / "gone.c").write_text(GONE_C)
    (src / "gone_main.c").write_text(GONE_MAIN_C)
    (src / "rodata.c").write_text(RODATA_C.format(prefix=prefix))
    link = [src / "main.c", f"-L{lib}", "-lfoo"]
    cc(compiler, *link, "-Wl,--disable-new-dtags", f"-Wl,-rpath,{lib}", "-o", bindir / "abs-rpath")
    cc(compiler, *link, "-Wl,-rpath,/usr/local/lib", "-o", bindir / "usr-local")
    cc(compiler, *link, "-Wl,-rpath,$ORIGIN/../../..", "-o", bindir / "escapes")
    cc(compiler, *link, "-Wl,-rpath,rel/lib:", "-o", bindir / "relative")
    build = prefix.parent / "build"
    build.mkdir()
    cc(compiler, *shared_lib("libgone.so"), "-o", build / "libgone.so", src / "gone.c")
    cc(compiler, src / "gone_main.c", f"-L{build}", "-lgone", "-o", bindir / "missing")
    (build / "libgone.so").unlink()
    # A conda-build work directory that still exists here and supplies a library.
    bld = prefix.parent / "conda-bld/work/lib"
    bld.mkdir(parents=True)
    cc(compiler, *shared_lib("libgone.so"), "-o", bld / "libgone.so", src / "gone.c")
    from_bld = [f"-L{bld}", "-lgone", f"-Wl,-rpath,{bld}"]
    cc(compiler, src / "gone_main.c", *from_bld, "-o", bindir / "build-dir")
    cc(compiler, src / "rodata.c", "-o", bindir / "rodata")
    interp = f"-Wl,--dynamic-linker={lib}/ld-own.so.2"
    cc(compiler, src / "hello.c", interp, "-o", bindir / "own-interp")
    cc(compiler, src / "hello.c", "-o", src / "hello")
    hello = (src / "hello").read_bytes()
    arm = bytearray(hello)
    arm[18:20] = (183).to_bytes(2, "little")  # e_machine: EM_AARCH64 (host is x86-64...)
    if HOST_SUBDIR == "linux-aarch64":
        arm[18:20] = (62).to_bytes(2, "little")  # (...or EM_X86_64 on an aarch64 host)
    (bindir / "other-arch").write_bytes(bytes(arm))
    (bindir / "truncated").write_bytes(hello[:100])
    # A cross compiler's target library: foreign, its NEEDED absent here, and that is fine.
    cross = bytearray((bindir / "missing").read_bytes())
    cross[18:20] = arm[18:20]
    sysroot = prefix / "aarch64-conda-linux-gnu/sysroot/lib"
    sysroot.mkdir(parents=True)
    (sysroot / "libcross.so").write_bytes(bytes(cross))
    (bindir / "suid").write_text("#!/bin/sh\necho hi\n")
    os.chmod(bindir / "suid", 0o4755)

    # Package bar: an RPATH into the prefix that its binary placeholder covers, a text
    # placeholder file, and one modified after install (same size, other bytes).
    old_rpath = f"-Wl,-rpath,{PLACEHOLDER}/lib"
    cc(compiler, *link, "-Wl,--disable-new-dtags", old_rpath, "-o", src / "covered")
    covered = install_with_placeholder(
        prefix, "bin/covered", (src / "covered").read_bytes(), PLACEHOLDER, "binary"
    )
    text = f"prefix={TEXT_PLACEHOLDER}\n".encode()
    config = install_with_placeholder(prefix, "share/config.txt", text, TEXT_PLACEHOLDER, "text")
    changed = install_with_placeholder(prefix, "share/changed.txt", text, TEXT_PLACEHOLDER, "text")
    write_record(
        prefix,
        "bar",
        {"bin/covered": covered, "share/config.txt": config, "share/changed.txt": changed},
    )
    data = (prefix / "share/changed.txt").read_bytes()
    (prefix / "share/changed.txt").write_bytes(data.replace(b"prefix=", b"PREFIX="))

    outside = prefix.parent / "outside.txt"
    outside.write_text("not in the environment\n")
    share = prefix / "share"
    (share / "abs-out").symlink_to(outside)
    (share / "rel-out").symlink_to("../../outside.txt")
    (share / "dangling").symlink_to("nothing-here")
    (share / "abs-in").symlink_to(lib / "libfoo.so")
    (share / "rel-in").symlink_to("../lib/libfoo.so")
    return outside


@pytest.fixture(scope="module")
def broken(compiler, tmp_path_factory) -> Broken:
    """Built and analysed once; tests only read it."""
    prefix = tmp_path_factory.mktemp("broken") / "env"
    outside = make_broken(compiler, prefix)
    return Broken(prefix, outside, analyse(Environment.load(str(prefix))))


@pytest.fixture
def clean(compiler, tmp_path) -> Path:
    prefix = tmp_path / "env"
    make_base(compiler, prefix)
    return prefix


def test_absolute_rpath_into_prefix_untracked_is_an_error(broken):
    [finding] = broken.find("bin/abs-rpath", "rpath-absolute-into-prefix")
    assert finding.severity is Severity.ERROR
    assert finding.owner == "untracked"
    assert "--fix-rpath" in finding.hint and "$ORIGIN/../lib" in finding.hint
    # The packer's prefix search can rewrite it, but only within the NULs after it.
    item = broken.report.files["bin/abs-rpath"]
    assert (item.prefix_mode, item.placeholder) == ("binary", None)
    assert len(str(broken.prefix)) <= item.room < len(str(broken.prefix)) + 16


def test_rpath_covered_by_a_placeholder_is_info(broken):
    assert broken.codes("bin/covered") == {"rpath-absolute-into-prefix": Severity.INFO}
    item = broken.report.files["bin/covered"]
    assert (item.prefix_mode, item.placeholder, item.room) == (
        "binary",
        PLACEHOLDER,
        len(PLACEHOLDER),
    )
    assert ("libfoo.so", "package:foo-1.0-0", str(broken.prefix / "lib/libfoo.so")) in item.needed


def test_rpath_outside_prefix_is_a_warning(broken):
    assert broken.codes("bin/usr-local") == {"rpath-outside-prefix": Severity.WARNING}
    # libfoo is not in /usr/local/lib: found in the environment's lib/, as bin/python would.
    needed = dict((name, where) for name, where, _ in broken.report.files["bin/usr-local"].needed)
    assert needed["libfoo.so"] == "package:foo-1.0-0"
    assert needed["libc.so.6"] == "system"


def test_build_directory_supplying_a_library(broken):
    assert broken.codes("bin/build-dir") == {
        "rpath-outside-prefix": Severity.ERROR,
        "needed-system-only": Severity.WARNING,
    }
    [finding] = broken.find("bin/build-dir", "rpath-outside-prefix")
    assert "build directory that supplies libgone.so" in finding.message


def test_origin_escaping_the_prefix(broken):
    assert broken.codes("bin/escapes") == {"rpath-origin-escapes": Severity.WARNING}
    [finding] = [f for f in broken.report.findings if f.path == "bin/escapes"]
    assert str(broken.prefix.parent.parent) in finding.message


def test_relative_and_empty_entries(broken):
    assert broken.codes("bin/relative") == {
        "rpath-relative": Severity.WARNING,
        "rpath-empty": Severity.WARNING,
    }


def test_missing_needed(broken):
    assert broken.codes("bin/missing") == {"needed-not-found": Severity.ERROR}
    assert ("libgone.so", "not-found", None) in broken.report.files["bin/missing"].needed


def test_prefix_in_rodata_of_untracked_binary(broken):
    item = broken.report.files["bin/rodata"]
    assert (item.kind, item.prefix_mode, item.room) == ("elf", "binary", len(str(broken.prefix)))
    assert broken.codes("bin/rodata") == {"binary-prefix-no-room": Severity.ERROR}
    [finding] = broken.find("bin/rodata", "binary-prefix-no-room")
    assert str(len(str(broken.prefix))) in finding.hint
    # Every binary holding the prefix limits the target; these two have no spare room.
    assert broken.report.room == len(str(broken.prefix))


def test_wrong_architecture_and_unparsable(broken):
    assert broken.codes("bin/other-arch") == {"wrong-architecture": Severity.ERROR}
    assert broken.codes("bin/truncated") == {"elf-unparsable": Severity.WARNING}
    item = broken.report.files["bin/truncated"]
    assert (item.kind, item.elf) == ("elf", None)


def test_cross_toolchain_target_library(broken):
    path = "aarch64-conda-linux-gnu/sysroot/lib/libcross.so"
    assert broken.codes(path) == {"wrong-architecture": Severity.INFO}
    assert ("libgone.so", "not-found", None) in broken.report.files[path].needed


def test_interpreter_into_prefix(broken):
    assert broken.codes("bin/own-interp")["interpreter-into-prefix"] is Severity.ERROR


def test_setuid(broken):
    assert broken.codes("bin/suid") == {"setuid-setgid": Severity.WARNING}
    assert broken.report.files["bin/suid"].kind == "text"


def test_symlinks(broken):
    assert broken.codes("share/abs-out") == {"symlink-outside-prefix": Severity.WARNING}
    assert broken.codes("share/rel-out") == {"symlink-outside-prefix": Severity.WARNING}
    assert broken.codes("share/dangling") == {"symlink-dangling": Severity.WARNING}
    assert broken.codes("share/abs-in") == {"symlink-absolute-into-prefix": Severity.ERROR}
    assert broken.codes("share/rel-in") == {}
    assert broken.report.files["share/dangling"].kind == "symlink"
    assert "share/rel-in" not in broken.report.files


def test_placeholder_files(broken):
    config = broken.report.files["share/config.txt"]
    assert (config.kind, config.prefix_mode) == ("text", "text")
    assert config.placeholder == TEXT_PLACEHOLDER
    assert broken.codes("share/config.txt") == {}
    assert broken.codes("share/changed.txt") == {"modified-file": Severity.WARNING}


def test_clean_files_are_not_shown(broken):
    assert broken.codes("bin/foo-prog") == {}
    assert broken.codes("lib/libfoo.so") == {}
    assert "bin/foo-prog" in broken.report.files  # ELF files always are
    assert "share/outside.txt" not in broken.report.files


def test_report_order_and_counts(broken):
    report = broken.report
    ranks = [list(Severity).index(f.severity) for f in report.findings]
    assert ranks == sorted(ranks)
    keys = [(f.path, f.code) for f in report.errors]
    assert keys == sorted(keys)
    # The one error whose presence depends on the linker's layout: NULs after .interp.
    assert set(keys) - {("bin/own-interp", "binary-prefix-no-room")} == set(EXPECTED_ERRORS)
    assert report.count(Severity.ERROR) == len(report.errors) == len(keys)
    line = summary_line(report, report.findings)
    assert line.startswith(f"# {len(keys)} errors, ") and f"fits: {report.room} bytes" in line


def _regular_files(prefix: Path) -> int:
    env = Environment.load(str(prefix))
    return sum(1 for st in env.files.values() if stat.S_ISREG(st.st_mode))


def test_cache_skips_reading(broken):
    env = Environment.load(str(broken.prefix))
    cache = AnalysisCache()
    first = analyse(env, cache=cache)
    files = _regular_files(broken.prefix)
    assert (cache.hits, cache.misses) == (0, files)
    second = analyse(env, cache=cache)
    assert (cache.hits, cache.misses) == (files, files)
    assert second.findings == first.findings == broken.report.findings
    assert second.files == first.files
    assert second.room == first.room


def test_cache_persisted_and_corrupt_file_ignored(broken, tmp_path):
    env = Environment.load(str(broken.prefix))
    path = tmp_path / "cache" / "analysis.json"
    cache = AnalysisCache(str(path))
    analyse(env, cache=cache)
    cache.save()
    loaded = AnalysisCache(str(path))
    assert analyse(env, cache=loaded).findings == broken.report.findings
    assert loaded.misses == 0

    lines = path.read_text().splitlines()
    assert lines[0] == '{"version":2}' and lines[1].startswith('{"env":')
    assert len(lines) == 2 + _regular_files(broken.prefix)  # a line per file
    garbage_files = (
        b"",
        b"{not json",
        b'{"version": 1, "envs": {"x": {"a": [1]}}}',  # the first format: one document
        b'{"version":2}\n["a",[1,2,3],[null,null,null,false],["text",null,null,true,null,null]]\n',
        b"\x00\xff",
    )
    for garbage in garbage_files:
        path.write_bytes(garbage)
        fresh = AnalysisCache(str(path))
        assert analyse(env, cache=fresh).findings == broken.report.findings
        assert fresh.hits == 0


def test_cache_notices_changed_files(clean):
    env = Environment.load(str(clean))
    cache = AnalysisCache()
    analyse(env, cache=cache)
    assert not analyse(env, cache=cache).errors
    prog = clean / "bin/foo-prog"
    data = bytearray(prog.read_bytes())
    data[18:20] = (183 if HOST_SUBDIR != "linux-aarch64" else 62).to_bytes(2, "little")
    prog.write_bytes(bytes(data))
    os.utime(prog, ns=(1, 1))  # a new mtime even on a coarse clock
    misses = cache.misses
    report = analyse(Environment.load(str(clean)), cache=cache)
    assert cache.misses == misses + 1
    assert [(f.path, f.code) for f in report.errors] == [("bin/foo-prog", "wrong-architecture")]


def test_default_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = default_cache("/some/env")
    assert cache.path is not None
    assert Path(cache.path).parent == tmp_path / "conda-package"
    assert Path(cache.path).name.startswith("analysis-")
    assert default_cache("/other/env").path != cache.path


def test_needed_found_only_on_the_system(clean, compiler):
    """libz is not part of glibc: needing it from the system is worth a warning."""
    dirs = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")
    libs = [d for d in dirs if os.path.exists(f"{d}/libz.so")]
    if not libs:
        pytest.skip("no libz.so development link on this system")
    src = clean.parent / "z.c"
    src.write_text("const char *zlibVersion(void);\nint main(void) { return !zlibVersion(); }\n")
    cc(compiler, src, "-lz", "-o", clean / "bin/with-z")
    report = analyse(Environment.load(str(clean)))
    [finding] = [f for f in report.findings if f.path == "bin/with-z"]
    assert (finding.code, finding.severity) == ("needed-system-only", Severity.WARNING)
    assert not report.errors


def test_progress_and_cancel(broken):
    env = Environment.load(str(broken.prefix))
    seen: list[Progress] = []
    analyse(env, progress=seen.append, threads=2)
    assert seen and all(p.phase == "analyse" for p in seen)
    files = _regular_files(broken.prefix)
    assert (seen[-1].done_files, seen[-1].total_files) == (files, files)
    assert seen[-1].done_bytes == seen[-1].total_bytes

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        analyse(env, cancel=cancel)
    cached = AnalysisCache()
    analyse(env, cache=cached)
    with pytest.raises(Cancelled):  # nothing to read, still stopped
        analyse(env, cancel=cancel, cache=cached)


def _check(prefix: Path, tmp_path: Path, *args: str):
    return cli("--check", str(prefix), *args, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})


def test_cli_check(broken, clean, tmp_path):
    ok = _check(clean, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("# 0 errors, 0 warnings, 0 info in ")
    assert "longest target prefix that fits: any" in ok.stdout

    bad = _check(broken.prefix, tmp_path)
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    errors = len(broken.report.errors)
    assert lines[0] == f"# errors ({errors})"
    assert lines[1].startswith("bin/abs-rpath (untracked): ")
    assert lines[2].startswith("    hint: ")
    headings = [line for line in lines if line.startswith("# ")]
    assert headings[0] == f"# errors ({errors})" and headings[1].startswith("# warnings (")
    assert headings[-1] == lines[-1] and lines[-1].startswith(f"# {errors} errors, ")
    assert list((tmp_path / "conda-package").glob("analysis-*.json"))

    quiet = _check(broken.prefix, tmp_path, "-q")
    assert quiet.returncode == 1
    [summary] = quiet.stdout.splitlines()
    assert summary.startswith(f"# {errors} errors, ")

    as_json = _check(broken.prefix, tmp_path, "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["prefix"] == str(broken.prefix)
    assert data["room"] == len(str(broken.prefix))
    assert data["counts"]["error"] == errors
    assert {"code", "severity", "path", "owner", "message", "hint"} <= set(data["findings"][0])
    assert data["findings"][0]["severity"] == "error"


def test_cli_check_target_prefix(clean, tmp_path):
    """A binary placeholder gives room; --relocate-prefix longer than it is an error."""
    packaged = b"\x7fELF-ish\0" + PLACEHOLDER.encode() + b"/lib\0\0\0tail\0"
    fields = install_with_placeholder(clean, "lib/data.bin", packaged, PLACEHOLDER, "binary")
    write_record(clean, "data", {"lib/data.bin": fields})
    fits = _check(clean, tmp_path, "--relocate-prefix", "/" + "x" * (len(PLACEHOLDER) - 1))
    too_long = _check(clean, tmp_path, "--relocate-prefix", "/" + "x" * len(PLACEHOLDER))
    assert fits.returncode == 0, fits.stdout
    assert too_long.returncode == 1
    assert "target-prefix-too-long" not in too_long.stdout  # codes are for --json
    assert "lib/data.bin (data-1.0-0): " in too_long.stdout


def test_small_env_through_the_cli(small_env, compiler, tmp_path):
    """A real rattler-installed environment: clean, then with an untracked broken program."""
    ok = _check(small_env, tmp_path)
    assert ok.returncode == 0, ok.stdout  # its fake lib/libtool.so is only a warning
    assert "lib/libtool.so (tool-1.0-0): ELF file cannot be parsed" in ok.stdout
    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    cc(compiler, src, f"-Wl,-rpath,{small_env}/lib", "-o", small_env / "bin/mine")
    bad = _check(small_env, tmp_path)
    assert bad.returncode == 1
    assert "bin/mine (untracked): RPATH" in bad.stdout or "bin/mine (untracked): RUNPATH" in (
        bad.stdout
    )


def test_real_environment(real_env):
    """Built from real conda packages, it relocates fine: no error may be a false alarm."""
    env = Environment.load(str(real_env))
    report = analyse(env)
    assert report.errors == (), "\n".join(f"{f.path}: {f.code}: {f.message}" for f in report.errors)
    elf_under_lib = []
    for path, st in env.files.items():
        if path.startswith("lib/") and stat.S_ISREG(st.st_mode):
            with open(real_env / path, "rb") as fh:
                if is_elf(fh.read(4)):
                    elf_under_lib.append(path)
    assert len(elf_under_lib) > 50
    missing = [p for p in elf_under_lib if p not in report.files]
    assert not missing
    assert all(report.files[p].kind == "elf" and report.files[p].elf for p in elf_under_lib)
    assert report.room is not None and report.room >= 200  # conda's long binary placeholder


def test_real_environment_after_pip_install(real_env_factory, demo_wheel):
    """What users do most: pip adds an entry point and byte-code holding the prefix."""
    prefix = real_env_factory("analysis-pip")
    pip_install(prefix, demo_wheel)  # --no-compile: compile as pip does by default
    [package] = prefix.glob("lib/python*/site-packages/hello_cp")
    subprocess.run([prefix / "bin/python", "-m", "compileall", "-q", package], check=True)
    report = analyse(Environment.load(str(prefix)))
    assert report.errors == ()
    script = report.files["bin/hello-cp"]
    assert (script.kind, script.prefix_mode) == ("text", "text")
    pyc = [f for f in report.findings if f.code == "bytecode-holds-prefix"]
    assert pyc and all(f.owner == "untracked" and "/hello_cp/" in f.path for f in pyc)
