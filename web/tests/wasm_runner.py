"""Run the portable suite in a WebAssembly Python under Node (CPython-side helper for
test_micropython.py and test_pyodide.py)."""

import pathlib
import re
import shutil
import subprocess

WEB = pathlib.Path(__file__).resolve().parent.parent
RUNNER = WEB / "tests" / "micropython" / "run.mjs"
NODE_MODULES = WEB / "node_modules"
SKIP_REASON = "web/node_modules is absent: run `npm ci` in web/ first"


def run_portable_suite(runtime: str) -> "tuple[int, int, str]":
    """``(passed, failed, output)`` of ``node run.mjs --runtime <runtime>``."""
    node = shutil.which("node")
    assert node, "node is required to run the portable suite in WebAssembly"
    command = [node, str(RUNNER), "--runtime", runtime]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=WEB)
    output = completed.stdout + completed.stderr
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", output, re.MULTILINE)
    assert summary, output[-3000:]
    passed, failed = (int(value) for value in summary[-1])
    assert (completed.returncode == 0) == (failed == 0 and passed > 0), output[-3000:]
    return passed, failed, output
