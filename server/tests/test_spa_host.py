"""The SPA host: strict CSP without inline script, no Referer, pinned assets
served locally with the right MIME types (SECURITY.md C8, DESIGN.md)."""

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from spalab.spa_host import WEB_DIR, create_spa_app

SETTINGS = {"issuer": "http://127.0.0.1:9000", "client_id": "spa-demo", "redirect_uri": "http://localhost:8000/"}
needs_assets = pytest.mark.skipif(not (WEB_DIR / "node_modules").is_dir(), reason="run npm ci in web/ first")
# Exact pins in web/package.json, hence the versions in the vendor URLs.
PINS = json.loads((WEB_DIR / "package.json").read_text())["dependencies"]
PYODIDE = f"/vendor/pyodide@{PINS['pyodide']}"
PYSCRIPT = f"/vendor/pyscript@{PINS['@pyscript/core']}"
MICROPYTHON = f"/vendor/micropython@{PINS['@micropython/micropython-webassembly-pyscript']}"


@pytest.fixture
def spa() -> TestClient:
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS), base_url="http://localhost:8000")


def csp(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    directives = [d.strip().split() for d in response.headers["content-security-policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def test_csp_forbids_inline_script_and_framing(spa: TestClient) -> None:
    """SECURITY.md C8: script only from self (+ the evals Pyodide needs), never inline."""
    policy = csp(spa.get("/"))
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'", "'unsafe-eval'"]
    assert "'unsafe-inline'" not in policy.get("style-src", [])
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:9000"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_every_response_has_no_referrer(spa: TestClient) -> None:
    """SECURITY.md C8 / RFC 9700 §4.2.4: the callback URL never leaks through Referer."""
    for path in ("/", "/main.py", "/pyscript.json", "/app.css"):
        response = spa.get(path)
        assert response.status_code == 200, path
        assert response.headers["referrer-policy"] == "no-referrer", path


def test_index_has_no_inline_script() -> None:
    """SECURITY.md C8: the page works under a CSP without 'unsafe-inline'."""
    html = (WEB_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@needs_assets
def test_pyscript_config_carries_the_client_settings(spa: TestClient) -> None:
    """The SPA reads its issuer and client from the PyScript config (DESIGN.md)."""
    config = spa.get("/pyscript.json").json()
    assert config["spalab"] == SETTINGS
    assert config["interpreter"] == f"{PYODIDE}/pyodide.mjs"


def test_pyscript_config_lists_every_python_file_of_the_shell_and_core() -> None:
    """A module missing from "files" would fail to import only in the browser."""
    files = json.loads((WEB_DIR / "pyscript.json").read_text())["files"]
    on_disk = {f"/{p.relative_to(WEB_DIR).as_posix()}" for d in ("oauth_client", "spa") for p in (WEB_DIR / d).glob("*.py")}
    assert set(files) == on_disk
    assert all(files[k] == "." + k for k in files)


@needs_assets
@pytest.mark.parametrize(("path", "mime"), [
    (f"{PYODIDE}/pyodide.mjs", "text/javascript"),
    (f"{PYODIDE}/pyodide.asm.wasm", "application/wasm"),
    (f"{PYODIDE}/python_stdlib.zip", "application/zip"),
    (f"{PYSCRIPT}/core.js", "text/javascript"),
    (f"{MICROPYTHON}/micropython.mjs", "text/javascript"),
    (f"{MICROPYTHON}/micropython.wasm", "application/wasm"),
])  # fmt: skip
def test_pinned_runtimes_are_served_locally_with_their_mime_types(spa: TestClient, path: str, mime: str) -> None:
    """DESIGN.md: nothing from a CDN; wasm must be application/wasm for streaming compile."""
    response = spa.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == mime


def test_no_file_outside_web_is_served(spa: TestClient) -> None:
    """Path traversal stays inside web/."""
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/vendor/pyodide/../../../pyproject.toml",
                 f"{PYODIDE}/../../../pyproject.toml", f"{PYODIDE}/%2e%2e/%2e%2e/%2e%2e/pyproject.toml"):  # fmt: skip
        assert spa.get(path).status_code == 404, path


def test_nothing_in_web_loads_from_a_cdn() -> None:
    """DESIGN.md: the demo works offline."""
    for path in list(WEB_DIR.glob("*.html")) + list(WEB_DIR.glob("*.json")) + list(WEB_DIR.rglob("spa/*.py")):
        assert not re.search(r"cdn\.jsdelivr|unpkg\.com|pyscript\.net|cdn\.", path.read_text()), path
    assert Path(WEB_DIR / "package-lock.json").is_file()


@needs_assets
def test_vendor_demo_pages_that_load_from_a_cdn_are_not_served(spa: TestClient) -> None:
    """DESIGN.md: no page ever loads from a CDN; Pyodide's own console pages would."""
    assert spa.get(f"{PYODIDE}/pyodide.mjs").status_code == 200
    for page in ("console.html", "console-v2.html", "README.md"):
        # Nor through web/ itself: node_modules is reachable only through the filtered mounts.
        for path in (f"{PYODIDE}/{page}", f"/node_modules/pyodide/{page}", f"/vendor/pyodide/{page}"):
            assert spa.get(path).status_code == 404, path
