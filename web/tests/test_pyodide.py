"""The portable unit tests, run again on Pyodide (the npm package PyScript's ``py``
uses) under Node, through web/tests/micropython/run.mjs --runtime pyodide."""

import pytest

from wasm_runner import NODE_MODULES, SKIP_REASON, run_portable_suite


@pytest.mark.skipif(not NODE_MODULES.is_dir(), reason=SKIP_REASON)
def test_portable_suite_passes_on_pyodide() -> None:
    """DESIGN "SPA client core": the same tests pass unchanged on Pyodide."""
    passed, failed, output = run_portable_suite("pyodide")
    assert "(emscripten)" in output, output[-3000:]
    assert failed == 0, output[-3000:]
    assert passed > 0
