"""The layout's rules (../shared/DESIGN.md, Layout) and the public API, checked for real:
import-linter's contracts from pyproject.toml, fresh interpreters, and the faces' sources."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
ENGINE_ROOMS = (
    "analyse", "archive", "condapkg", "demo", "discover", "load", "plan", "relocate", "unpack",
    "untracked", "write",
)  # fmt: skip

needs_source = pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists(), reason="needs the source tree"
)


def _tree(tmp_path: Path) -> Path:
    """The sources as a plain `conda_package` package: import-linter cannot follow the
    editable install's mapping of core/ and tui/ into one namespace."""
    package = tmp_path / "conda_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for folder in ("core", "tui"):
        shutil.copytree(
            ROOT / folder, package / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


@needs_source
def test_contracts_are_kept(tmp_path):
    result = _lint(_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@needs_source
@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/load/walk.py", "import rich", "The engine imports no UI"),
        ("core/archive/__init__.py", "import argparse", "The engine imports no UI"),
        ("core/plan/plan.py", "import textual", "The engine imports no UI"),
        ("tui/display.py", "from conda_package.core.load import walk", "The faces use the public"),
        ("core/cli/report.py", "from ..write import pack", "The faces use the public API"),
        ("core/unpack/activate.py", "from ..errors import UsageError", "What ships inside"),
    ],
)
def test_each_contract_catches_a_breach(tmp_path, module, line, contract):
    tree = _tree(tmp_path)
    path = tree / "conda_package" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken


def _imported_from_core(source: Path) -> list[tuple[str, int]]:
    """(name, line) of each name a face imports from the engine, with the module it names."""
    names = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 2 or module.startswith("conda_package.core"):
                where = "conda_package.core" if node.level == 2 and not module else module
                if node.level == 2 and module:
                    where = f"conda_package.core.{module}"
                names += [(f"{where}:{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [(f"{a.name}:", node.lineno) for a in node.names if "core" in a.name]
    return names


@needs_source
def test_the_faces_import_only_the_public_api():
    import conda_package.core as core

    faces = [*(ROOT / "tui").glob("*.py"), *(ROOT / "core" / "cli").glob("*.py")]
    wrong = [
        f"{source.relative_to(ROOT)}:{line}: {name}"
        for source in faces
        for name, line in _imported_from_core(source)
        if name.split(":")[0] != "conda_package.core" or name.split(":")[1] not in core.__all__
    ]
    assert not wrong, wrong


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("room", ENGINE_ROOMS)
def test_no_room_of_the_engine_loads_a_ui_toolkit(room):
    code = (
        f"import sys, conda_package.core.{room};"
        "print(sorted({'textual', 'rich'} & {m.split('.')[0] for m in sys.modules}))"
    )
    assert _fresh(code) == "[]"


@pytest.mark.parametrize("first", ["attribute", "import", "rooms first"])
def test_every_public_name_is_what_it_says(first):
    """Whatever was imported before, each name of __all__ is the object its room defines
    (a room never hides the function of its name: core.analyse, core.discover)."""
    code = f"""
import importlib, inspect, pkgutil, types, conda_package.core as core
first = {first!r}
if first == "rooms first":
    for info in pkgutil.walk_packages(core.__path__, "conda_package.core."):
        if ".cli" not in info.name:
            importlib.import_module(info.name)
wrong = []
for name in core.__all__:
    if first == "import":
        namespace = {{}}
        exec(f"from conda_package.core import {{name}}", namespace)
        value = namespace[name]
    else:
        value = getattr(core, name)
    if value is not getattr(core, name) or isinstance(value, types.ModuleType):
        wrong.append(name)
    elif name[0].isupper() and not name.isupper() and not (
        inspect.isclass(value) or hasattr(value, "__origin__") or hasattr(value, "__args__")
    ):
        wrong.append(name)  # a type (classes, Literal and Callable aliases)
    elif name[0].islower() and name != "__version__" and not callable(value):
        wrong.append(name)
print(wrong, core.analyse.__module__, core.discover.__module__, core.pack.__module__)
"""
    assert _fresh(code) == (
        "[] conda_package.core.analyse.run conda_package.core.discover.envs"
        " conda_package.core.write.packer"
    )


def test_the_api_is_what_type_checkers_see():
    """The TYPE_CHECKING imports and __all__ name the same set."""
    tree = ast.parse((ROOT / "core" / "__init__.py").read_text())
    guarded = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for child in node.body
        if isinstance(child, ast.ImportFrom)
        for alias in child.names
    }
    import conda_package.core as core

    assert guarded == set(core.__all__) - {"__version__"}
