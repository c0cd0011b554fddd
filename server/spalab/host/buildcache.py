"""The host's build cache, node_modules/.cache/spalab/: what it makes with Node once per pinned Pyodide (the
memory snapshot, snapshot.py; the compiled package, bytecode.py) and keeps for the next start.

Every file is named <stem>-<hash of its bytes><suffix>, where the stem says what it was made from. So a file
is what its name says or is damaged (find checks, and removes a damaged one), and two hosts making one at the
same moment cannot mix theirs: each writes a temporary file of its own in the cache and renames it to its own
name (store). npm ci empties node_modules, and the cache with it: the next start makes them again."""

import contextlib
import hashlib
import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .vendor import Vendored

logger = logging.getLogger("spalab.host")

Found = TypeVar("Found")
STALE_PARTIAL = 3600  # s: a temporary file this old is what a killed host left, not another's write in progress


def directory(pyodide: Vendored) -> Path:
    """The cache beside the pinned Pyodide (in node_modules/.cache/spalab/)."""
    return pyodide.directory.parent / ".cache" / "spalab"


def version_of(file: io.BufferedIOBase) -> str:
    """The hash that names a file of the cache (16 hex digits of its SHA-256): an open file's, or BytesIO's."""
    return hashlib.file_digest(file, "sha256").hexdigest()[:16]


def check_name(path: Path, version: str) -> None:
    """ValueError unless `version`, the hash of the file's bytes, is the one its name says (else damaged)."""
    if not path.stem.endswith("-" + version):
        raise ValueError("its bytes are not what its name says")


def _version_in(path: Path, stem: str, suffix: str) -> bool:
    """Whether `path` is named <stem>-<16 hex digits><suffix> (not a file of a longer stem that starts alike)."""
    version = path.name[len(stem) + 1 : len(path.name) - len(suffix)]
    return re.fullmatch(r"[0-9a-f]{16}", version) is not None


def find(cache: Path, stem: str, suffix: str, use: Callable[[Path], Found]) -> "Found | None":
    """What `use` makes of the first good file made from `stem`, or None when there is none. `use` raises
    ValueError for a damaged file, which is then removed (and the next one tried), and OSError when the file
    is gone (another host removed it meanwhile, say), which is passed over."""
    for path in sorted(cache.glob(f"{stem}-*{suffix}")):
        if not _version_in(path, stem, suffix):
            continue
        try:
            return use(path)
        except ValueError as wrong:
            logger.warning("%s is damaged (%s): removed", path, wrong)
            with contextlib.suppress(OSError):
                path.unlink()
        except OSError:
            continue
    return None


def store(cache: Path, kind: str, stem: str, suffix: str, write: Callable[[str], object]) -> Path:
    """Keeps what `write` writes to the temporary path it is given as <stem>-<hash of its bytes><suffix>, and
    returns that path; then removes, best effort, the files of this `kind` (the start their stems share, as
    "pyodide-") made from other stems (another Pyodide's, package's or Node's; a host still serving one holds
    it open), and the temporary files of this kind that a killed host left. Raises when writing fails."""
    cache.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=cache, prefix=stem + "-", suffix=".partial")
    os.close(handle)
    try:
        write(partial)
        with open(partial, "rb") as written:
            path = cache / f"{stem}-{version_of(written)}{suffix}"
        os.chmod(partial, 0o644)  # like any other build output: another user's host may read it
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    stale = time.time() - STALE_PARTIAL
    for older in cache.glob(kind + "*"):
        with contextlib.suppress(OSError):
            if older.suffix == ".partial":
                if older.stat().st_mtime < stale:
                    older.unlink()
            elif older.suffix == suffix and not older.name.startswith(stem + "-"):
                older.unlink()
    return path
