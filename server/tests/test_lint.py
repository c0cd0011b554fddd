"""One formatter and linter for the whole tree (ruff, configured in pyproject.toml): the test command
enforces them, so CI does too."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_test_files_have_unique_names() -> None:
    """The suites run in one pytest session with rootdir imports: two test files of one name stop the
    whole run at collection ("import file mismatch"), so CI would run nothing."""
    names: dict[str, list[str]] = {}
    for folder in ("server/tests", "web/tests", "e2e"):
        for path in (ROOT / folder).rglob("test_*.py"):
            if "node_modules" not in path.parts:
                names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in names.items() if len(paths) > 1}
