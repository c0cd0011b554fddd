# The browser's global scope (window) as Pyodide and MicroPython expose it: every name is a JS object.
from typing import Any

def __getattr__(name: str) -> Any: ...
