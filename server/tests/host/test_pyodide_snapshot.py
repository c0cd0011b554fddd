"""Pyodide's memory snapshot (issue 15; spalab.host.snapshot): made by the host with Node from the pinned
Pyodide, served at an immutable URL like pyodide.asm.wasm, restored by the configs' interpreter module.
That the pages really restore it, in every engine, is e2e/test_pyodide_restore.py's."""

import json
import logging
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli
import pytest
from starlette.testclient import TestClient

from spalab.host.app import WEB_DIR, create_spa_app
from spalab.host.snapshot import MAKER, make_snapshot

BASE = "http://localhost:8000"
SETTINGS = {"issuer": "http://127.0.0.1:9000", "client_id": "spa-demo", "redirect_uri": "http://localhost:8000/"}
MODULES = WEB_DIR / "node_modules"
PINS = json.loads((WEB_DIR / "package.json").read_text())["dependencies"] if WEB_DIR.is_dir() else {}
PYODIDE = f"/vendor/pyodide@{PINS.get('pyodide')}"
IMMUTABLE = "public, max-age=31536000, immutable"
# Pyodide's snapshot header: "\0snp", then the header's size and the build id (pyodide.asm.mjs checks both).
MAGIC = b"\x00snp"
pytestmark = [
    pytest.mark.skipif(not MODULES.is_dir(), reason="run npm ci in web/ first"),
    pytest.mark.skipif(shutil.which("node") is None, reason="the snapshot is made with Node"),
]
PYODIDE_CONFIGS = (
    "/pyscript.json",
    "/example/pyscript.json",
    "/example/worker.json",
    "/lab/storage/shared/pyscript.json",
)


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS), base_url=BASE)


def test_every_pyodide_config_restores_the_hosts_snapshot(spa: TestClient) -> None:
    """The Pyodide configs name the host's loader with the snapshot's version; the loader and the snapshot
    are immutable there, the snapshot is Pyodide's (its header), compressed like the other large files,
    and the page names the loader for boot.js to preload."""
    interpreters = {spa.get(path).json()["interpreter"] for path in PYODIDE_CONFIGS}
    assert len(interpreters) == 1
    (interpreter,) = interpreters
    assert interpreter.startswith("/pyodide-loader.mjs?v=")
    loader = spa.get(interpreter)
    assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
    assert loader.headers["cache-control"] == IMMUTABLE
    assert f'from "{PYODIDE}/pyodide.mjs"' in loader.text and f'"{PYODIDE}/"' in loader.text
    version = parse_qs(urlsplit(interpreter).query)["sv"][0]
    with spa.stream("GET", f"/pyodide-snapshot?v={version}", headers={"accept-encoding": "br"}) as response:
        sent = b"".join(response.iter_raw())
    assert response.status_code == 200 and response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-encoding"] == "br" and len(sent) < 10_000_000
    snapshot = brotli.decompress(sent)
    assert snapshot[:4] == MAGIC and len(snapshot) > 10_000_000
    assert spa.get(f"/pyodide-snapshot?v={version[::-1]}").headers["cache-control"] != IMMUTABLE
    assert f'data-py-interpreter="{interpreter.replace("&", "&amp;")}"' in spa.get("/").text
    # MicroPython's configs keep their own loader.
    assert spa.get("/mpy.json").json()["interpreter"].startswith("/mpy-loader.mjs?")


def test_without_the_snapshot_pages_start_the_pinned_pyodide(tmp_path: Path) -> None:
    """`spalab serve --no-pyodide-snapshot`: the configs name the pinned Pyodide, and there is no snapshot."""
    spa = TestClient(create_spa_app([], SETTINGS, pyodide_snapshot=False), base_url=BASE)
    assert spa.get("/pyscript.json").json()["interpreter"] == f"{PYODIDE}/pyodide.mjs"
    assert spa.get("/pyodide-snapshot?v=0").status_code == 404


def test_without_node_pages_start_the_pinned_pyodide_and_the_host_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="spalab.host"):
        spa = TestClient(create_spa_app([], SETTINGS), base_url=BASE)
    assert spa.get("/pyscript.json").json()["interpreter"] == f"{PYODIDE}/pyodide.mjs"
    assert "no node on PATH" in caplog.text


def test_a_snapshot_holds_nothing_of_the_machine_that_made_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every visitor gets the snapshot, the interpreter's whole memory: neither the host's environment
    (a secret in it, say) nor its paths (Node would name the program after the maker script's) are in it."""
    canary = "spalab-canary-7c1e0a5d"
    monkeypatch.setenv("SPALAB_TEST_SECRET", canary)
    where = tmp_path / canary
    where.mkdir()
    monkeypatch.chdir(where)
    out = where / "snapshot.bin"
    make_snapshot(MODULES / "pyodide", str(shutil.which("node")), out)
    snapshot = out.read_bytes()
    assert snapshot[:4] == MAGIC
    assert canary.encode() not in snapshot
    assert str(MAKER.parent).encode() not in snapshot and str(MAKER).encode() not in snapshot
    assert b"_=./this.program" in snapshot  # a browser's environment, as Pyodide gives it there
