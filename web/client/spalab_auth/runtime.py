"""What differs between PyScript's two interpreters, in one place: Pyodide (`py`,
CPython 3.13) and MicroPython 1.28 (`mpy`). The rest of the shell is written once
and calls these instead of an interpreter's own FFI.

Each difference below was measured with PyScript 0.7.31, Pyodide 314.0.7 and
MicroPython 1.28.0-6 in Chromium and Firefox. Also measured, and avoided where
they arise rather than wrapped:
- an integer crossing between JS and MicroPython passes through 32 bits, either
  way (Date.now() arrives as -45081776): browser.now() uses time.time(), and
  ui._clock hands JS a float;
- MicroPython's asyncio has create_task but no ensure_future (main.py);
- JS null is None on MicroPython, jsnull on Pyodide (browser.Storage.get).
"""

import json
import sys

import js
from pyscript.ffi import create_proxy, to_js

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

try:
    from pyodide.ffi import JsException
except ImportError:
    # MicroPython: a rejected JS promise (e.g. fetch refused by CORS) raises
    # jsffi.JsException, with args (error, error.name, error.message).
    from jsffi import JsException  # noqa: F401 - re-exported

__all__ = ["INTERPRETER", "JsException", "create_proxy", "bytes_from_js", "bytes_to_js", "js_object", "pretty_json"]

INTERPRETER = "MicroPython" if sys.implementation.name == "micropython" else "Pyodide"


def js_object(value: object) -> "Any":
    """A dict as a plain JS object (nested too), for fetch options and WebCrypto.

    pyscript.ffi.to_js already does this on both: on Pyodide it adds
    dict_converter=Object.fromEntries (plain to_js would make a Map); MicroPython's
    to_js makes objects and takes no keyword arguments at all (TypeError)."""
    return to_js(value)


def bytes_to_js(data: bytes) -> "Any":
    """bytes -> a new JS Uint8Array.

    Pyodide's Uint8Array.assign does not exist on MicroPython, and MicroPython's
    to_js(bytes) is a PyProxy, not a typed array: a JS Array of ints works on both."""
    return js.Uint8Array.new(to_js(list(data)))


def bytes_from_js(array: "Any") -> bytes:
    """A JS Uint8Array -> bytes. MicroPython has no JsProxy.to_py(); iterating works on both."""
    return bytes(list(array))


def pretty_json(data: object) -> str:
    """JSON indented by two spaces. MicroPython's json.dumps takes no indent
    (TypeError): the browser's JSON.stringify indents the same on both."""
    return str(js.JSON.stringify(js.JSON.parse(json.dumps(data)), None, 2))
