"""usnet_core stays sans-I/O: no module may import I/O, clocks, randomness or adapters."""

from __future__ import annotations

import ast
import pathlib

import usnet_core

FORBIDDEN = {
    "socket", "os", "select", "selectors", "threading", "time", "random", "secrets",
    "asyncio", "trio", "usnet_backends", "usnet_sync", "usnet_trio", "subprocess",
    "fcntl", "ctypes", "multiprocessing", "signal", "mmap",
}  # fmt: skip

CORE_ROOT = pathlib.Path(usnet_core.__file__).parent


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.append((node.lineno, "__import__(...)"))
    return found


def test_core_modules_exist() -> None:
    assert len(list(CORE_ROOT.rglob("*.py"))) > 5


def test_core_imports_no_io() -> None:
    offenders = []
    for path in sorted(CORE_ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, name in _imports(tree):
            top = name.split(".")[0]
            if top in FORBIDDEN or name == "__import__(...)":
                offenders.append(f"{path.relative_to(CORE_ROOT)}:{lineno} imports {name}")
    assert offenders == []


def test_checker_catches_a_forbidden_import() -> None:
    tree = ast.parse("import os\nfrom time import monotonic\nfrom . import wire\n")
    names = {name for _, name in _imports(tree)}
    assert {"os", "time"} <= names
    assert "wire" not in names
