"""The host's build cache (server/spalab/host/buildcache.py): files named by their bytes, found, stored and
pruned by kind. The snapshot and the compiled package use it (test_pyodide_snapshot.py,
test_pyodide_bytecode.py run it with the real Node)."""

import hashlib
import os
import time
from pathlib import Path

import pytest

from spalab.host import buildcache


def named(cache: Path, stem: str, body: bytes, suffix: str = ".zip") -> Path:
    path = cache / f"{stem}-{hashlib.sha256(body).hexdigest()[:16]}{suffix}"
    path.write_bytes(body)
    return path


def test_store_names_by_the_bytes_and_prunes_only_its_own_kind(tmp_path: Path) -> None:
    """Another stem of the same kind goes (another Pyodide's, say), and so does a temporary file a killed
    host left an hour ago; anything else in the folder stays: another kind, a file that is not the cache's,
    a temporary file another host is writing now."""
    older = named(tmp_path, "spalab-auth-old", b"old")
    other_kind = named(tmp_path, "pyodide-0.0.1-abc", b"snapshot", ".snapshot")
    unrelated = tmp_path / "unrelated.zip"
    unrelated.write_bytes(b"not ours")
    left = tmp_path / "spalab-auth-x-1234.partial"
    left.write_bytes(b"")
    os.utime(left, (time.time() - 7200, time.time() - 7200))
    writing = tmp_path / "spalab-auth-y-5678.partial"
    writing.write_bytes(b"")

    path = buildcache.store(tmp_path, "spalab-auth-", "spalab-auth-new", ".zip", lambda p: Path(p).write_bytes(b"new"))

    assert path == tmp_path / f"spalab-auth-new-{hashlib.sha256(b'new').hexdigest()[:16]}.zip"
    assert path.read_bytes() == b"new" and (path.stat().st_mode & 0o777) == 0o644
    assert not older.exists() and not left.exists()
    assert other_kind.exists() and unrelated.exists() and writing.exists()


def test_find_removes_a_damaged_file_and_ignores_a_longer_stems(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def use(path: Path) -> bytes:
        body = path.read_bytes()
        buildcache.check_name(path, hashlib.sha256(body).hexdigest()[:16])
        return body

    longer = named(tmp_path, "spalab-auth-a-b", b"a longer stem's")  # "spalab-auth-a" is a prefix of its stem
    assert buildcache.find(tmp_path, "spalab-auth-a", ".zip", use) is None
    assert longer.exists()
    damaged = named(tmp_path, "spalab-auth-a", b"good")
    damaged.write_bytes(b"bad")
    assert buildcache.find(tmp_path, "spalab-auth-a", ".zip", use) is None
    assert not damaged.exists() and "is damaged" in caplog.text
    good = named(tmp_path, "spalab-auth-a", b"good")
    assert buildcache.find(tmp_path, "spalab-auth-a", ".zip", use) == b"good" and good.exists()
