"""The client core stays portable to MicroPython 1.28 and Pyodide (DESIGN "SPA client
core"): checked statically here, and for real by test_micropython.py."""

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "client" / "spalab_auth" / "core"
MODULES = sorted(CORE.glob("*.py"))
FORBIDDEN_IMPORTS = {
    "__future__",
    "dataclasses",
    "urllib",
    "secrets",
    "re",
    "typing_extensions",
    "js",
    "pyscript",
    "pyodide",
}
ALLOWED_IMPORTS = {"binascii", "hashlib", "json"}


def tree(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported_modules(module: ast.Module) -> "list[tuple[str, ast.AST]]":
    found = []  # type: list[tuple[str, ast.AST]]
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append(((node.module or "").split(".")[0], node))
    return found


def guarded_nodes(module: ast.Module) -> "set[int]":
    guarded = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Try) and any(
            isinstance(handler.type, ast.Name) and handler.type.id == "ImportError" for handler in node.handlers
        ):
            guarded |= {id(child) for statement in node.body for child in ast.walk(statement)}
    return guarded


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_core_imports_only_portable_modules(path: pathlib.Path) -> None:
    """DESIGN: no __future__, dataclasses, urllib.parse, secrets, regex, or browser modules;
    typing only inside try/except ImportError."""
    module = tree(path)
    guarded = guarded_nodes(module)
    for name, node in imported_modules(module):
        assert name not in FORBIDDEN_IMPORTS, (path.name, name)
        if name == "typing":
            assert id(node) in guarded, (path.name, "unguarded typing import")
        else:
            assert name in ALLOWED_IMPORTS, (path.name, name)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_core_classes_use_slots(path: pathlib.Path) -> None:
    """STYLE §6: plain classes with __slots__ (exceptions excepted)."""
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ClassDef) and path.name != "errors.py":
            names = {
                target.id
                for item in node.body
                if isinstance(item, ast.Assign)
                for target in item.targets
                if isinstance(target, ast.Name)
            }
            assert "__slots__" in names, (path.name, node.name)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_core_functions_are_annotated_and_short(path: pathlib.Path) -> None:
    """STYLE §5-6: every parameter and return annotated; a function fits on a screen."""
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.FunctionDef):
            arguments = node.args.args + node.args.kwonlyargs
            missing = [arg.arg for arg in arguments if arg.annotation is None and arg.arg not in ("self", "cls")]
            assert not missing, (path.name, node.name, missing)
            assert node.returns is not None, (path.name, node.name)
            assert (node.end_lineno or node.lineno) - node.lineno <= 45, (path.name, node.name)


def test_core_modules_stay_small() -> None:
    """STYLE §5: modules of a few hundred lines at most."""
    for path in MODULES:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name
