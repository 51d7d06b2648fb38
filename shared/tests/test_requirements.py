"""The service image installs requirements.txt only: every third-party package the
running code imports (shared/ and services/, outside their unit tests, imports inside
functions included) must be pinned there, and nothing is pinned in both files."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"shared", "services", "bench", "tests"}  # bench: charts drawn only where it is installed


def _pinned(name: str) -> set[str]:
    names = set()
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(_normal(re.split(r"[=<>!~\[; ]", line)[0]))
    return names


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _runtime_imports() -> dict[str, str]:
    """Top-level module imported → the first file importing it."""
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_package_the_running_code_imports_is_a_runtime_requirement() -> None:
    runtime, dists = _pinned("requirements.txt"), packages_distributions()
    missing = {module: where for module, where in _runtime_imports().items()
               if module not in sys.stdlib_module_names and module not in FIRST_PARTY | {"__future__"}
               and not {_normal(d) for d in dists.get(module, [module])} & runtime}
    assert not missing, f"imported by the running code but not in requirements.txt: {missing}"


def test_no_package_is_pinned_as_both_runtime_and_development() -> None:
    assert _pinned("requirements.txt") & _pinned("requirements-dev.txt") == set()
