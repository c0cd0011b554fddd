"""The portable unit tests, run again on MicroPython 1.28 (the npm WebAssembly build
PyScript's ``mpy`` uses) under Node, through web/tests/micropython/run.mjs."""

import pytest

from wasm_runner import NODE_MODULES, SKIP_REASON, run_portable_suite


@pytest.mark.skipif(not NODE_MODULES.is_dir(), reason=SKIP_REASON)
def test_portable_suite_passes_on_micropython() -> None:
    """DESIGN "SPA client core": the same tests pass unchanged on MicroPython 1.28."""
    passed, failed, output = run_portable_suite("micropython")
    assert "running on micropython 1.28" in output, output[-3000:]
    assert failed == 0, output[-3000:]
    assert passed > 0
