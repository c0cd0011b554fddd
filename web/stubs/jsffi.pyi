# MicroPython's JavaScript bridge. Its JsException plays the part of Pyodide's
# (spa/runtime.py imports whichever exists), so the stub names the same class.
from typing import Any

from pyodide.ffi import JsException as JsException

def __getattr__(name: str) -> Any: ...
