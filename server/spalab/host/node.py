"""Node on the host, for the pinned Pyodide run outside a browser (issue 15): the memory snapshot's maker
(snapshot.py) and the package's compiler (bytecode.py). The host looks for Node once at start; without it,
Pyodide pages start the interpreter themselves and compile the package in the page, and the host says so once."""

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger("spalab.host")


def find_node() -> str | None:
    """Node's path, or None after one warning that says what the Pyodide pages lose without it."""
    node = shutil.which("node")
    if node is None:
        logger.warning(
            "no node on PATH: Pyodide pages start without a memory snapshot and compile spalab-auth's modules "
            "themselves (README, Speed)"
        )
    return node


def run_on_pyodide(node: str, script: Path, pyodide: Path, *args: str, timeout: float) -> None:
    """Runs `script` with Node on the pinned Pyodide in `pyodide` (its first argument: the file URL of that
    pyodide.mjs; then `args`), in an empty environment and a throwaway working directory, so that nothing of
    this machine reaches what it makes. Raises on failure (CalledProcessError carries its stderr)."""
    with tempfile.TemporaryDirectory(prefix="spalab-node-") as directory:
        subprocess.run(
            [node, str(script), (pyodide / "pyodide.mjs").as_uri(), *args],
            cwd=directory,
            env={"PATH": os.defpath},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=timeout,
        )


def failure(failed: BaseException) -> str:
    """A failed run for the log: the exception, and the end of Node's stderr when it has one."""
    detail = getattr(failed, "stderr", None) or b""
    text = detail.decode("utf-8", "replace").strip()[-2000:] if isinstance(detail, bytes) else ""
    return f"{failed} {text}".rstrip()
