"""The portable unit tests, run again on the interpreters PyScript uses in the
browser — MicroPython 1.28 (``mpy``) and Pyodide (``py``), from the pinned npm
packages — under Node, through web/tests/micropython/run.mjs."""

import pytest
from wasm_runner import NODE_MODULES, SKIP_REASON, run_portable_suite


@pytest.mark.skipif(not NODE_MODULES.is_dir(), reason=SKIP_REASON)
@pytest.mark.parametrize(
    ("runtime", "banner"), [("micropython", "running on micropython 1.28"), ("pyodide", "(emscripten)")]
)
def test_portable_suite_passes_on_the_browser_interpreters(runtime: str, banner: str) -> None:
    """DESIGN "SPA client core": the same tests pass unchanged on MicroPython 1.28 and Pyodide."""
    passed, failed, output = run_portable_suite(runtime)
    assert banner in output, output[-3000:]
    assert failed == 0, output[-3000:]
    assert passed > 0
