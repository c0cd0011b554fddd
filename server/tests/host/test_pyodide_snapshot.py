"""Pyodide's memory snapshot (issue 15; spalab.host.snapshot): made by the host with Node from the pinned
Pyodide, served at an immutable URL like pyodide.asm.wasm, restored by the configs' interpreter module.
That the pages really restore it, in every engine, is e2e/test_pyodide_restore.py's."""

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli
import pytest
from starlette.testclient import TestClient

from spalab.host.app import WEB_DIR, create_spa_app
from spalab.host.snapshot import MAKER, PyodideSnapshot, make_snapshot
from spalab.host.vendor import Vendored, VendorURLs

NODE = str(shutil.which("node"))  # the tests that need it are skipped without it (pytestmark)
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
    assert caplog.text.count("no node on PATH") == 1  # one warning for both things Node makes
    assert "compile spalab-auth's modules themselves" in caplog.text


def test_a_snapshot_holds_nothing_of_the_machine_that_made_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every visitor gets the snapshot, the interpreter's whole memory: none of the host's paths (Node would
    name the program after the maker script's), nor its environment (a secret in it, say) or working
    directory (Pyodide 314 copies neither, and the host withholds both all the same)."""
    canary = "spalab-canary-7c1e0a5d"
    monkeypatch.setenv("SPALAB_TEST_SECRET", canary)
    where = tmp_path / canary
    where.mkdir()
    monkeypatch.chdir(where)
    snapshot = make_snapshot(MODULES / "pyodide", str(shutil.which("node")), where, "test").read_bytes()
    assert snapshot[:4] == MAGIC
    assert canary.encode() not in snapshot
    assert str(MAKER.parent).encode() not in snapshot and str(MAKER).encode() not in snapshot
    assert b"_=./this.program" in snapshot  # a browser's environment, as Pyodide gives it there


def test_a_snapshot_is_made_in_utc_whatever_the_machines_zone(tmp_path: Path) -> None:
    """Emscripten writes the time zone into memory as it starts; a host in Berlin (its /etc/localtime, here
    its TZ) would otherwise give every visitor its UTC offset and daylight saving rule."""
    out = tmp_path / "snapshot.bin"
    node = str(shutil.which("node"))
    environment = {"PATH": os.defpath, "TZ": "Europe/Berlin"}
    subprocess.run(
        [node, str(MAKER), (MODULES / "pyodide" / "pyodide.mjs").as_uri(), str(out)],
        env=environment,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    snapshot = out.read_bytes()
    assert b"UTC+0100" not in snapshot and b"UTC+0200" not in snapshot
    assert b"UTC-0000" in snapshot


def test_a_damaged_snapshot_is_made_again_and_a_removed_one_is_still_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot is named by the hash of its bytes: one whose bytes no longer match (a disk error, an
    interrupted copy) is removed and made again at start, not served as immutable for good; and the host
    serves the bytes it checked at start even when the file is removed meanwhile (an `npm ci`). Snapshots
    of another Pyodide, maker or Node go when a new one is made."""
    modules = tmp_path / "node_modules"
    modules.mkdir()
    (modules / "pyodide").symlink_to(MODULES / "pyodide")
    pyodide = Vendored("pyodide", PINS["pyodide"], modules / "pyodide")
    urls = VendorURLs([pyodide])
    stale = modules / ".cache" / "spalab" / "pyodide-0.0.1-0123456789abcdef-0123456789abcdef.snapshot"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"another Pyodide's")
    first = PyodideSnapshot.find_or_make(pyodide, urls, NODE)
    assert first is not None and first.path.parent == stale.parent
    assert not stale.exists()  # another Pyodide's (or maker's, or Node's) snapshot is removed once unused
    damaged = bytearray(first.path.read_bytes())
    damaged[1_000_000:1_400_000] = bytes(400_000)
    first.path.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="spalab.host"):
        again = PyodideSnapshot.find_or_make(pyodide, urls, NODE)
    assert again is not None and again.version != first.version
    assert not first.path.exists() and "is damaged" in caplog.text
    again.path.unlink()
    body = again.source.load()
    assert body[:4] == MAGIC and hashlib.sha256(body).hexdigest()[:16] == again.version


def test_no_script_is_served_as_a_service_worker(spa: TestClient) -> None:
    """docs/SECURITY.md H9: a service worker would outlive the page that registered it and answer every
    later visit, the snapshot's download included; the SPA has none, so the host serves no script as one
    (the browser's registration fetch says `Service-Worker: script`). The same file loads as a script."""
    assert spa.get("/boot.js").status_code == 200
    refused = spa.get("/boot.js", headers={"Service-Worker": "script"})
    assert refused.status_code == 403 and "no service worker" in refused.text
    assert spa.get("/pyodide-loader.mjs", headers={"Service-Worker": "script"}).status_code == 403
