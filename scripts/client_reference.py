"""Writes the API reference of web/client/README.md from the package's docstrings.

    python scripts/client_reference.py          # rewrite the section between the markers
    python scripts/client_reference.py --check  # exit 1 if the README is out of date

Read with `ast` (nothing is imported: the package needs a browser)."""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "web" / "client" / "spalab_auth"
README = PACKAGE.parent / "README.md"
BEGIN, END = "<!-- reference:begin -->", "<!-- reference:end -->"
# (module, names) in the order a reader meets them.
DOCUMENTED = [
    ("auth.py", ["Auth", "User", "Event", "NotSignedIn", "SessionEnded"]),
    ("browser.py", ["NetworkError", "PopupError", "WorkerError"]),
    ("explain.py", ["explain", "SignOutReport"]),
]


def annotation(node: ast.expr | None) -> str:
    """The package writes annotations as strings (MicroPython has no typing): show them bare."""
    if node is None:
        return ""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ast.unparse(node)


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = node.args
    positional = [a for a in args.args if a.arg not in ("self", "cls")]
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    defaults = defaults[len(args.args) - len(positional) :]
    parts = [_arg(a, d) for a, d in zip(positional, defaults, strict=True)]
    if args.kwonlyargs:
        parts.append("*")
        parts += [_arg(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    returns = f" -> {annotation(node.returns)}" if node.returns else ""
    prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
    return f"{prefix}{node.name}({', '.join(parts)}){returns}"


def _arg(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg + (f": {annotation(arg.annotation)}" if arg.annotation else "")
    return text + (f" = {ast.unparse(default)}" if default is not None else "")


def section(node: ast.AST, depth: str) -> list[str]:
    lines: list[str] = []
    doc = ast.get_docstring(node) or ""  # type: ignore[arg-type]
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        lines += [f"{depth} class `{node.name}`" + (f" ({bases})" if bases else ""), "", doc, ""]
        for item in node.body:
            public = isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                not item.name.startswith("_") or item.name == "__init__"
            )
            if public and ast.get_docstring(item):
                assert isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                is_property = any(ast.unparse(d) == "property" for d in item.decorator_list)
                head = f"`{node.name}.{item.name}`" if is_property else f"`{signature(item)}`"
                lines += [f"- {head}" + (" (property)" if is_property else ""), ""]
                lines += ["  " + line if line else "" for line in (ast.get_docstring(item) or "").splitlines()]
                lines.append("")
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        lines += [f"{depth} `{signature(node)}`", "", doc, ""]
    return lines


def reference() -> str:
    lines = [BEGIN, "", "<!-- Written by scripts/client_reference.py from the docstrings: edit those. -->", ""]
    for module, names in DOCUMENTED:
        tree = ast.parse((PACKAGE / module).read_text())
        found = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
        for name in names:
            lines += section(found[name], "###")
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + reference() + text[end:]
    if "--check" in sys.argv:
        if updated != text:
            print("web/client/README.md: the API reference is out of date; run python scripts/client_reference.py")
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
