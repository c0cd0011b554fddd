"""The benchmark's modules, loaded by path for the server tests (e2e/ is not on their sys.path)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[2] / "e2e" / "bench"
PROVIDER = BENCH_DIR / "provider.py"
REPORT = BENCH_DIR / "report.py"


def load(path: Path, name: str) -> ModuleType:
    """`path` as a module of its own called `name` (each test file its own copy)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
