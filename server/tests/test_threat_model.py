"""docs/SECURITY.md stays true to the code: every object it says enforces a rule exists, every test it
names exists, and every `SECURITY.md Xn` comment in the code names an item the threat model defines."""

import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SECURITY.md"
TEST_DIRS = [ROOT / "server" / "tests", ROOT / "web" / "tests", ROOT / "e2e"]
ROW = re.compile(
    r"^\| (?P<item>[PCH]\d+) \| (?P<rule>[^|]+) \| (?P<spec>[^|]*) \| (?P<where>[^|]+) \| (?P<test>[^|]+) \|$"
)
CODE = re.compile(r"`([^`]+)`")


def rows() -> list[dict[str, str]]:
    found = [m.groupdict() for m in map(ROW.match, DOC.read_text(encoding="utf-8").splitlines()) if m]
    assert len(found) > 30, "the threat model's tables were not found"
    return found


def items() -> set[str]:
    return {row["item"] for row in rows()}


def resolve(dotted: str) -> object:
    """Imports the longest importable module prefix, then walks attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


def where_names() -> list[str]:
    return sorted({name for row in rows() for name in CODE.findall(row["where"])})


def named_tests() -> list[str]:
    return sorted({name for row in rows() for name in CODE.findall(row["test"])})


@pytest.fixture(scope="module", autouse=True)
def client_core_importable() -> None:
    sys.path.insert(0, str(ROOT / "web" / "client"))
    sys.path.insert(0, str(ROOT / "web"))


@pytest.mark.parametrize("name", where_names())
def test_every_enforcing_object_exists(name: str) -> None:
    if "/" in name:
        assert (ROOT / name).is_file(), name
    else:
        resolve(name)


@pytest.mark.parametrize("name", named_tests())
def test_every_named_test_exists(name: str) -> None:
    file_name, _, test = name.partition("::")
    files = [path for folder in TEST_DIRS for path in folder.rglob(file_name)]
    assert len(files) == 1, f"{file_name}: found {files}"
    if test:
        assert re.search(rf"^def {re.escape(test)}\(", files[0].read_text(encoding="utf-8"), re.MULTILINE), name


def test_every_item_has_a_test_or_is_marked_planned() -> None:
    for row in rows():
        assert CODE.findall(row["test"]) or "planned" in row["where"], row["item"]


def test_every_security_comment_names_a_defined_item() -> None:
    defined = items()
    sources = [
        p
        for folder in ("server", "web", "e2e")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".js", ".html") and "node_modules" not in p.parts
    ]
    cited = {
        (str(p.relative_to(ROOT)), ref)
        for p in sources
        for ref in re.findall(r"SECURITY\.md ([PCH]\d+)", p.read_text(encoding="utf-8", errors="replace"))
    }
    unknown = sorted((path, ref) for path, ref in cited if ref not in defined)
    assert not unknown, unknown
    assert len(cited) > 40  # the code does cite the threat model


def test_every_security_test_file_names_defined_items() -> None:
    defined = items()
    for path in (ROOT / "server" / "tests").rglob("test_security_p*.py"):
        numbers = re.findall(r"p(\d+)", path.stem.removeprefix("test_security_"))
        assert numbers and all(f"P{int(n)}" in defined for n in numbers), path.name
