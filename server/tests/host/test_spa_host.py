"""The SPA host: strict CSP without inline script, no Referer, pinned assets
served locally with the right MIME types (docs/SECURITY.md C8, DESIGN.md)."""

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from spalab.host.app import WEB_DIR, create_spa_app

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
    """docs/SECURITY.md C8: script only from self (+ the evals Pyodide needs), never inline."""
    policy = csp(spa.get("/"))
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'", "'unsafe-eval'"]
    assert "'unsafe-inline'" not in policy.get("style-src", [])
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:9000"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_every_response_has_no_referrer(spa: TestClient) -> None:
    """docs/SECURITY.md C8 / RFC 9700 §4.2.4: the callback URL never leaks through Referer."""
    for path in ("/", "/main.py", "/pyscript.json", "/app.css"):
        response = spa.get(path)
        assert response.status_code == 200, path
        assert response.headers["referrer-policy"] == "no-referrer", path


def test_index_has_no_inline_script() -> None:
    """docs/SECURITY.md C8: the page works under a CSP without 'unsafe-inline'."""
    html = (WEB_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@needs_assets
def test_pyscript_config_carries_the_client_settings(spa: TestClient) -> None:
    """The SPA reads its issuer and client from the PyScript config (DESIGN.md)."""
    config = spa.get("/pyscript.json").json()
    assert config["spalab"] == SETTINGS
    assert config["interpreter"].startswith("/pyodide-loader.mjs?")  # the snapshot's (test_assets.py)


def test_pyscript_config_lists_every_python_file_of_the_demo_shell() -> None:
    """A module missing from "files" would fail to import only in the browser; the package
    itself comes as one wheel (test_client_package.py), not file by file."""
    files = json.loads((WEB_DIR / "pyscript.json").read_text())["files"]
    on_disk = {f"/{p.relative_to(WEB_DIR).as_posix()}" for p in (WEB_DIR / "spa").glob("*.py")}
    assert set(files) == on_disk
    assert all(files[k] == "." + k for k in files)


@needs_assets
@pytest.mark.parametrize(
    ("path", "mime"),
    [
        (f"{PYODIDE}/pyodide.mjs", "text/javascript"),
        (f"{PYODIDE}/pyodide.asm.wasm", "application/wasm"),
        (f"{PYODIDE}/python_stdlib.zip", "application/zip"),
        (f"{PYSCRIPT}/core.js", "text/javascript"),
        (f"{MICROPYTHON}/micropython.mjs", "text/javascript"),
        (f"{MICROPYTHON}/micropython.wasm", "application/wasm"),
    ],
)
def test_pinned_runtimes_are_served_locally_with_their_mime_types(spa: TestClient, path: str, mime: str) -> None:
    """DESIGN.md: nothing from a CDN; wasm must be application/wasm for streaming compile."""
    response = spa.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == mime


def test_no_file_outside_web_is_served(spa: TestClient) -> None:
    """Path traversal stays inside web/."""
    for path in (
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/vendor/pyodide/../../../pyproject.toml",
        f"{PYODIDE}/../../../pyproject.toml",
        f"{PYODIDE}/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    ):
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


# --- only the files the SPA uses (web/ holds tests, READMEs and package files too) ---

NOT_FOR_THE_BROWSER = [
    "/tests/test_client_pkce.py",
    "/tests/conftest.py",
    "/tests/__init__.py",
    "/tests/",
    "/tests/micropython/run.mjs",
    "/README.md",
    "/client/spalab_auth/core/README.md",
    "/client/spalab_auth/auth.py",
    "/client/pyproject.toml",
    "/package-lock.json",
    "/package.json",
    "/.gitignore",
    "/client/",
    "/spa/",
    "/node_modules/pyodide/pyodide.mjs",
    "/baseline/../README.md",
    "/%2e%2e/web/README.md",
]


def spa_needs(spa: TestClient) -> set[str]:
    """Every local file the SPA loads: each entry of pyscript.json's "files", each script and
    stylesheet the served pages name, main.py (boot.js adds it) and the pages themselves."""
    pages = {"/", "/popup-callback.html", "/baseline/"}
    needed = set(json.loads((WEB_DIR / "pyscript.json").read_text())["files"]) | pages | {"/main.py"}
    needed |= set(spa.get("/pyscript.json").json()["packages"])  # the spalab-auth wheel
    for page in pages:
        tags = re.findall(r"<(?:script|link)\b[^>]*>", spa.get(page).text)
        needed |= {m for t in tags for m in re.findall(r'(?:src|href)="(/[^"/][^"]*)"', t)}
    return needed


@pytest.mark.parametrize("path", NOT_FOR_THE_BROWSER)
def test_files_the_spa_does_not_use_are_not_served(spa: TestClient, path: str) -> None:
    """Only the SPA's own files: web/'s tests, READMEs and package files stay private (404)."""
    assert (WEB_DIR / path.split("/")[1]).exists() or path.startswith("/%2e")  # the file is really there
    assert spa.get(path).status_code == 404


@needs_assets
def test_every_file_the_spa_needs_is_served(spa: TestClient) -> None:
    needed = spa_needs(spa)
    assert len(needed) > 15 and any(p.startswith("/vendor/") for p in needed)
    for path in sorted(needed):
        assert spa.get(path).status_code == 200, path
    for path in spa.get("/pyscript.json").json()["files"]:  # their versioned names too
        assert spa.get(path).status_code == 200, path


def test_a_python_file_added_to_the_config_is_served_at_once(tmp_path: Path) -> None:
    """The allow-list follows web/pyscript.json: listing a file there serves it, no restart."""
    (tmp_path / "pyscript.json").write_text('{"files": {"/app.py": "./app.py"}}')
    (tmp_path / "app.py").write_text("print('app')\n")
    (tmp_path / "extra.py").write_text("print('extra')\n")
    client = TestClient(create_spa_app([], SETTINGS, web_dir=tmp_path), base_url="http://localhost:8000")
    assert (client.get("/app.py").status_code, client.get("/extra.py").status_code) == (200, 404)
    (tmp_path / "pyscript.json").write_text('{"files": {"/app.py": "./app.py", "/extra.py": "./extra.py"}}')
    assert client.get("/extra.py").status_code == 200
