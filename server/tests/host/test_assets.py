"""Asset delivery on the SPA host: versioned immutable vendor URLs, pages and configs
pointing at them, negotiated gzip/brotli bodies (RFC 9110 §12.5.3) and validators
(RFC 9110 §13)."""

import gzip
import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from spalab.host import assets, mpy
from spalab.host.app import WEB_DIR, create_spa_app
from spalab.host.assets import EncodedCache, negotiate, warm
from spalab.host.package import build_wheel

BASE = "http://localhost:8000"  # the SPA host answers for the loopback host names only (docs/SECURITY.md P24)
SETTINGS = {"issuer": "http://127.0.0.1:9000", "client_id": "spa-demo", "redirect_uri": "http://localhost:8000/"}
MODULES = WEB_DIR / "node_modules"
pytestmark = pytest.mark.skipif(not MODULES.is_dir(), reason="run npm ci in web/ first")

PINS = json.loads((WEB_DIR / "package.json").read_text())["dependencies"] if WEB_DIR.is_dir() else {}
PYODIDE = f"/vendor/pyodide@{PINS.get('pyodide')}"
PYSCRIPT = f"/vendor/pyscript@{PINS.get('@pyscript/core')}"
MICROPYTHON = f"/vendor/micropython@{PINS.get('@micropython/micropython-webassembly-pyscript')}"
OIDC = f"/vendor/oidc-client-ts@{PINS.get('oidc-client-ts')}"
IMMUTABLE = "public, max-age=31536000, immutable"
UNVERSIONED = re.compile(r"/vendor/[a-z-]+/")
# A PyScript chunk big enough to compress (core.js itself is a 260-byte re-export).
CORE_CHUNK = next((p.name for p in (MODULES / "@pyscript/core/dist").glob("core-*.js")), "core.js")


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS), base_url=BASE)


def fetch(client: TestClient, path: str, method: str = "GET", **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, not decoded (httpx would undo gzip and br)."""
    with client.stream(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}) as response:
        return response, b"".join(response.iter_raw())


def file_bytes(relative: str) -> bytes:
    return (MODULES / relative).read_bytes()


# --- versioned, immutable vendor URLs ---


@pytest.mark.parametrize(
    "path",
    [
        f"{PYODIDE}/pyodide.mjs",
        f"{PYODIDE}/pyodide.asm.wasm",
        f"{PYSCRIPT}/core.js",
        f"{PYSCRIPT}/core.css",
        f"{MICROPYTHON}/micropython.mjs",
        f"{OIDC}/oidc-client-ts.min.js",
    ],
)
def test_versioned_vendor_urls_are_immutable(spa: TestClient, path: str) -> None:
    """RFC 8246: a versioned URL never changes content, so the browser need not revalidate it."""
    response = spa.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE


def test_oidc_client_ts_is_served_from_its_browser_build(spa: TestClient) -> None:
    """The baseline client's library: its browser bundle, byte for byte."""
    response, body = fetch(spa, f"{OIDC}/oidc-client-ts.min.js", accept_encoding="identity")
    assert body == file_bytes("oidc-client-ts/dist/browser/oidc-client-ts.min.js")


@pytest.mark.parametrize(
    "path",
    [
        "/vendor/pyodide/pyodide.mjs",
        "/vendor/pyscript/core.js",
        "/vendor/pyodide@0.0.1/pyodide.mjs",
        "/vendor/pyscript@latest/core.js",
        "/vendor/oidc-client-ts/oidc-client-ts.min.js",
        "/vendor/nothing@1/x.js",
    ],
)
def test_unversioned_or_other_versions_are_a_clear_404(spa: TestClient, path: str) -> None:
    """An old or guessed URL must not get a file that could then be cached for a year."""
    response = spa.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert f"{PYODIDE}/" in response.text and f"{PYSCRIPT}/" in response.text


def test_node_modules_is_not_reachable_through_web(spa: TestClient) -> None:
    """Only the filtered, versioned mounts serve the packages."""
    assert spa.get(f"{PYODIDE}/pyodide.mjs").status_code == 200
    for path in ("/node_modules/pyodide/pyodide.mjs", "/node_modules/pyodide/console.html"):
        assert spa.get(path).status_code == 404, path


# --- references rewritten as served ---


@pytest.mark.parametrize("coding", ["identity", "br", "gzip"])
def test_served_index_points_at_versioned_urls(spa: TestClient, coding: str) -> None:
    """web/index.html says /vendor/pyscript/...; what the browser gets names the version."""
    assert "/vendor/pyscript/core.js" in (WEB_DIR / "index.html").read_text()
    response = spa.get("/", headers={"Accept-Encoding": coding})
    assert f'src="{PYSCRIPT}/core.js"' in response.text
    assert f'href="{PYSCRIPT}/core.css"' in response.text
    assert not UNVERSIONED.search(response.text)
    assert spa.get(f"{PYSCRIPT}/core.js").status_code == 200


def test_pyscript_config_points_at_versioned_pyodide() -> None:
    """Without the host's snapshot (with it, its loader imports this URL: test_pyodide_snapshot.py)."""
    spa = TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS, pyodide_snapshot=False), base_url=BASE)
    config = spa.get("/pyscript.json").json()
    assert config["interpreter"] == f"{PYODIDE}/pyodide.mjs"
    assert not UNVERSIONED.search(json.dumps(config))
    assert spa.get(config["interpreter"]).status_code == 200


def bundled(spa: TestClient, config: dict[str, object]) -> tuple[dict[str, bytes], httpx.Response]:
    """The compiled modules a MicroPython config's loader fetches (static/mpy-loader.mjs): destination → bytes."""
    query = parse_qs(urlsplit(str(config["interpreter"])).query)
    response = spa.get(f"/mpy-bundle/{query['bundle'][0]}?v={query['bv'][0]}")
    assert response.status_code == 200, response.text
    return dict(mpy.unbundle(response.content)), response


def test_mpy_config_is_the_same_config_on_micropython(spa: TestClient) -> None:
    """PyScript's <script type="mpy"> boots MicroPython with the same modules and settings: each module
    compiled to MicroPython bytecode (host/mpy.py), the package's and the app's, all in one immutable file
    that the config's interpreter module fetches and unpacks (issue 15: one request instead of about 40)."""
    pyodide, micropython = spa.get("/pyscript.json").json(), spa.get("/mpy.json").json()
    assert micropython["interpreter"].startswith("/mpy-loader.mjs?v=")
    assert micropython["files"] == {} and "packages" not in micropython
    wheel = build_wheel(WEB_DIR / "client")
    listed = json.loads((WEB_DIR / "pyscript.json").read_text())["files"]
    expected = {
        **{f"./{path[:-3]}.mpy": mpy.compile_module(source, path) for path, source in wheel.modules.items()},
        **{
            dest[:-3] + ".mpy": mpy.compile_module((WEB_DIR / url.lstrip("/")).read_bytes(), url.lstrip("/"))
            for url, dest in listed.items()
        },
    }
    modules, response = bundled(spa, micropython)
    assert modules == expected
    assert all(body[:2] == b"M\x06" for body in modules.values())  # .mpy format 6, which MicroPython 1.28 reads
    assert response.headers["cache-control"] == IMMUTABLE
    assert {url.split("?v=")[0]: dest for url, dest in pyodide["files"].items()} == listed
    assert micropython["spalab"] == SETTINGS


def test_the_micropython_loader_wraps_the_pinned_interpreter(spa: TestClient) -> None:
    """The config's interpreter module: same-origin JavaScript, immutable at the config's URL, importing the
    pinned (versioned) MicroPython and naming its WebAssembly, which is served."""
    loader = spa.get(spa.get("/mpy.json").json()["interpreter"])
    assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
    assert loader.headers["cache-control"] == IMMUTABLE
    assert not UNVERSIONED.search(loader.text)
    assert f'from "{MICROPYTHON}/micropython.mjs"' in loader.text
    assert spa.get(f"{MICROPYTHON}/micropython.wasm").status_code == 200
    assert f'"{MICROPYTHON}/micropython.wasm"' in loader.text
    assert spa.get("/mpy-loader.mjs?v=0000").headers["cache-control"] != IMMUTABLE


def test_the_example_pages_get_the_package_compiled_in_one_file(spa: TestClient) -> None:
    """The example's and the lab's MicroPython pages share the example config's bundle: the package alone."""
    wheel = build_wheel(WEB_DIR / "client")
    for path in ("/example/mpy.json", "/example/worker-mpy.json", "/lab/storage/memory/mpy.json"):
        config = spa.get(path).json()
        assert "bundle=example&" in config["interpreter"] and config["files"] == {}
        modules, _ = bundled(spa, config)
        assert set(modules) == {f"./{path[:-3]}.mpy" for path in wheel.modules}


def test_a_bundle_is_named_by_what_it_holds(tmp_path: Path) -> None:
    """An edited module is another version of the bundle (a new URL, so no stale cache); an old version's
    URL gets what is current, revalidated rather than immutable; an unknown bundle is a 404."""
    shutil.copy(WEB_DIR / "pyscript.json", tmp_path / "pyscript.json")
    shutil.copytree(WEB_DIR / "spa", tmp_path / "spa")
    os.symlink(MODULES, tmp_path / "node_modules")
    os.symlink(WEB_DIR / "client", tmp_path / "client")
    spa = TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS, web_dir=tmp_path), base_url=BASE)
    before = spa.get("/mpy.json").json()
    old_modules, _ = bundled(spa, before)
    (tmp_path / "spa" / "ui.py").write_text((tmp_path / "spa" / "ui.py").read_text() + "\nEDITED = 1\n")
    after = spa.get("/mpy.json").json()
    assert after["interpreter"] != before["interpreter"]
    new_modules, response = bundled(spa, after)
    assert new_modules["./spa/ui.mpy"] != old_modules["./spa/ui.mpy"]
    assert response.headers["cache-control"] == IMMUTABLE
    stale = spa.get("/mpy-bundle/app?v=" + parse_qs(urlsplit(before["interpreter"]).query)["bv"][0])
    assert dict(mpy.unbundle(stale.content)) == new_modules
    assert stale.headers["cache-control"] != IMMUTABLE
    for name in ("nothing", "..", "pyscript.json"):
        assert spa.get(f"/mpy-bundle/{name}").status_code == 404


def test_a_bundle_is_versioned_by_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another mpy-cross (or bundle format) with the same sources is another URL: a browser never keeps a
    year-old immutable bundle for a loader that expects other bytes."""
    first = TestClient(create_spa_app([], SETTINGS), base_url=BASE).get("/mpy.json").json()["interpreter"]
    compile_module = mpy.compile_module
    monkeypatch.setattr(mpy, "compile_module", lambda source, name: compile_module(source, name) + b"\0")
    spa = TestClient(create_spa_app([], SETTINGS), base_url=BASE)
    second = spa.get("/mpy.json").json()["interpreter"]
    assert parse_qs(urlsplit(first).query)["bv"] != parse_qs(urlsplit(second).query)["bv"]
    modules, response = bundled(spa, {"interpreter": second})
    assert response.headers["cache-control"] == IMMUTABLE and all(body.endswith(b"\0") for body in modules.values())


def test_a_module_mpy_cross_refuses_goes_as_its_source(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A syntax error in an app module: the bundle carries that module's source, so MicroPython reports the
    error with its file and line as it would without mpy-cross (and the host logs mpy-cross's message);
    the other modules stay compiled and nothing is a 500."""
    shutil.copy(WEB_DIR / "pyscript.json", tmp_path / "pyscript.json")
    shutil.copytree(WEB_DIR / "spa", tmp_path / "spa")
    os.symlink(MODULES, tmp_path / "node_modules")
    os.symlink(WEB_DIR / "client", tmp_path / "client")
    broken = (tmp_path / "spa" / "ui.py").read_text() + "\ndef (:\n"
    (tmp_path / "spa" / "ui.py").write_text(broken)
    spa = TestClient(create_spa_app([], SETTINGS, web_dir=tmp_path), base_url=BASE)
    modules, response = bundled(spa, spa.get("/mpy.json").json())
    assert modules["./spa/ui.py"] == broken.encode() and "./spa/ui.mpy" not in modules
    assert modules["./spa/timeline.mpy"][:2] == b"M\x06"
    assert "mpy-cross refused spa/ui.py" in caplog.text


def test_a_page_whose_config_names_no_interpreter_is_served_as_written(tmp_path: Path) -> None:
    """The interpreter attributes follow the configs only where a config names one (a --web-dir of one's own)."""
    config = json.loads((WEB_DIR / "pyscript.json").read_text())
    del config["interpreter"]
    (tmp_path / "pyscript.json").write_text(json.dumps(config))
    shutil.copy(WEB_DIR / "index.html", tmp_path / "index.html")
    os.symlink(MODULES, tmp_path / "node_modules")
    page = TestClient(create_spa_app([], SETTINGS, web_dir=tmp_path), base_url=BASE).get("/")
    assert page.status_code == 200
    assert f'data-py-interpreter="{PYODIDE}/pyodide.mjs"' in page.text


def test_a_bundle_round_trips_and_a_malformed_one_is_refused() -> None:
    files = [("./a.mpy", b"M\x06abc"), ("./pkg/b.mpy", b""), ("./pkg/c.mpy", bytes(range(256)))]
    data = mpy.bundle(files)
    assert mpy.unbundle(data) == files
    with pytest.raises(ValueError):
        mpy.unbundle(data + b"x")


def test_mpy_config_without_mpy_cross_unpacks_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host started without mpy-cross: MicroPython gets the sources, PyScript unpacks the plain wheel (a zip),
    not the one with Pyodide's bytecode (host/bytecode.py) that the Pyodide config names."""
    monkeypatch.setattr(mpy, "available", lambda: False)
    spa = TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS, pyodide_snapshot=False), base_url=BASE)
    pyodide, micropython = spa.get("/pyscript.json").json(), spa.get("/mpy.json").json()
    wheel = build_wheel(WEB_DIR / "client").url
    assert micropython["files"] == {wheel: "./*", **pyodide["files"]}


def test_compiled_modules_come_only_in_their_bundle(spa: TestClient) -> None:
    """No module is compiled and served on its own any more: the bundles hold the modules the configs list
    (test_mpy_config_is_the_same_config_on_micropython) and nothing else of web/ or the package."""
    wheel = build_wheel(WEB_DIR / "client")
    package = f"{wheel.prefix}mpy/spalab_auth/auth.mpy"
    for path in ("/mpy/spa/ui.mpy", "/mpy/tests/conftest.mpy", "/mpy/main.mpy", package):
        assert spa.get(path).status_code == 404, path


@pytest.fixture
def other_pages(tmp_path: Path) -> TestClient:
    """A web/ with the pages others are adding (a popup callback, the baseline client)."""
    shutil.copy(WEB_DIR / "pyscript.json", tmp_path / "pyscript.json")
    os.symlink(MODULES, tmp_path / "node_modules")
    os.symlink(WEB_DIR / "client", tmp_path / "client")
    page = '<script type="module" src="/vendor/oidc-client-ts/oidc-client-ts.min.js"></script>' * 40
    (tmp_path / "popup-callback.html").write_text(page)
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "index.html").write_text(page.replace("oidc-client-ts.min", "oidc-client-ts"))
    (tmp_path / "boot.js").write_text("// /vendor/pyodide/ stays as written outside .html\n")
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS, web_dir=tmp_path), base_url=BASE)


@pytest.mark.parametrize("path", ["/popup-callback.html", "/baseline/"])
def test_every_html_page_is_rewritten(other_pages: TestClient, path: str) -> None:
    response = other_pages.get(path)
    assert response.status_code == 200
    assert f"{OIDC}/oidc-client-ts" in response.text
    assert not UNVERSIONED.search(response.text)
    assert response.headers["cache-control"] == "no-store"
    # Only pages: other files go out as written.
    assert other_pages.get("/boot.js").text == "// /vendor/pyodide/ stays as written outside .html\n"


# --- compression ---


@pytest.mark.parametrize("coding", ["br", "gzip"])
@pytest.mark.parametrize(
    "relative",
    [
        f"@pyscript/core/dist/{CORE_CHUNK}",
        "pyodide/pyodide.mjs",
        "@micropython/micropython-webassembly-pyscript/micropython.wasm",
    ],
)
def test_compressed_bodies_decode_to_the_exact_file(spa: TestClient, coding: str, relative: str) -> None:
    """RFC 9110 §8.4: Content-Encoding names the coding; decoding gives the file back."""
    prefix = {"@pyscript/core/dist": PYSCRIPT, "pyodide": PYODIDE}.get(relative.rsplit("/", 1)[0], MICROPYTHON)
    response, body = fetch(spa, f"{prefix}/{relative.rsplit('/', 1)[1]}", accept_encoding=coding)
    assert response.headers["content-encoding"] == coding
    assert int(response.headers["content-length"]) == len(body)
    decoded = brotli.decompress(body) if coding == "br" else gzip.decompress(body)
    assert decoded == file_bytes(relative)
    assert len(body) < len(decoded)
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize("accept", ["gzip, deflate, br, zstd", "gzip;q=0.8, br;q=0.8", "*"])
def test_brotli_is_preferred(spa: TestClient, accept: str) -> None:
    response, _ = fetch(spa, f"{PYODIDE}/pyodide.mjs", accept_encoding=accept)
    assert response.headers["content-encoding"] == "br"


@pytest.mark.parametrize(
    "accept",
    [
        "br;q=0, gzip;q=0",
        "",
        "identity",
        "deflate",
        "*;q=0",
        "br;q=oops",
        "gzip;;",
        "br;q=0.5;level=9",
        "gz ip",
        "\x7f",
        "br" + ";" * 5000,
    ],
)
def test_refused_or_malformed_accept_encoding_gets_identity(spa: TestClient, accept: str) -> None:
    """RFC 9110 §12.5.3: q=0 refuses; anything unusable falls back to identity, never to an error."""
    response, body = fetch(spa, f"{PYODIDE}/pyodide.mjs", accept_encoding=accept)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert body == file_bytes("pyodide/pyodide.mjs")
    assert response.headers["vary"] == "Accept-Encoding"


def test_without_accept_encoding_the_body_is_identity(spa: TestClient) -> None:
    client = TestClient(spa.app, base_url=BASE)
    del client.headers["accept-encoding"]
    response, body = fetch(client, f"{PYODIDE}/pyodide.mjs")
    assert "content-encoding" not in response.headers
    assert body == file_bytes("pyodide/pyodide.mjs")
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        (f"{PYODIDE}/python_stdlib.zip", "pyodide/python_stdlib.zip"),
        (f"{PYSCRIPT}/core.js", "@pyscript/core/dist/core.js"),
    ],
)
def test_zip_and_tiny_files_are_not_compressed(spa: TestClient, path: str, relative: str) -> None:
    """A zip is compressed already; a few hundred bytes gain nothing from a coding."""
    response, body = fetch(spa, path, accept_encoding="br, gzip")
    assert "content-encoding" not in response.headers
    assert body == file_bytes(relative)
    assert fetch(spa, f"{PYODIDE}/pyodide.mjs", accept_encoding="br, gzip")[0].headers["content-encoding"] == "br"


@pytest.mark.parametrize("path", ["/", "/main.py", "/app.css", "/boot.js"])
def test_app_files_are_compressed_and_revalidated(spa: TestClient, path: str) -> None:
    """The app's own files change with every edit: no-cache (pages: no-store), compressed like the rest."""
    response, body = fetch(spa, path, accept_encoding="br")
    assert response.headers["content-encoding"] == "br"
    assert response.headers["cache-control"] == ("no-store" if path == "/" else "no-cache")
    assert response.headers["vary"] == "Accept-Encoding"
    assert brotli.decompress(body) == spa.get(path, headers={"Accept-Encoding": "identity"}).content


def test_each_file_is_compressed_once(spa: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = assets.encode
    monkeypatch.setattr(assets, "encode", lambda data, coding: calls.append(coding) or real(data, coding))
    client = TestClient(create_spa_app([], SETTINGS), base_url=BASE)
    bodies = {fetch(client, f"{PYODIDE}/pyodide.mjs", accept_encoding="gzip")[1] for _ in range(3)}
    assert calls == ["gzip"] and len(bodies) == 1


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = EncodedCache(max_bytes=300)
    blobs = {name: os.urandom(120) for name in "abc"}  # random: gzip makes them a little bigger
    for name in "ab":
        cache.get(name, lambda name=name: blobs[name], "gzip")
    cache.get("a", lambda: b"", "gzip")  # a hit: "a" becomes the most recently used
    cache.get("c", lambda: blobs["c"], "gzip")
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.size <= 300


def test_warming_compresses_the_runtime_ahead_of_the_first_visit(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EncodedCache()
    micropython = MODULES / "@micropython/micropython-webassembly-pyscript"
    warm(cache, [micropython], (".mjs", ".wasm"))
    calls: list[str] = []
    monkeypatch.setattr(assets, "encode", lambda data, coding: calls.append(coding) or b"")
    path = os.path.realpath(micropython / "micropython.wasm")
    source = assets.file_source(path, os.stat(path))
    assert brotli.decompress(cache.get(source.key + ("br",), source.load, "br")) == source.load()
    assert calls == []


# --- validators, HEAD, Range ---


@pytest.mark.parametrize("path", [f"{PYODIDE}/pyodide.mjs", "/", "/pyscript.json", "/mpy.json", "/main.py"])
@pytest.mark.parametrize("coding", ["identity", "br", "gzip"])
def test_if_none_match_gets_304(spa: TestClient, path: str, coding: str) -> None:
    """RFC 9110 §13.1.2: a matching ETag means the cached copy is current."""
    first = spa.get(path, headers={"Accept-Encoding": coding})
    etag = first.headers["etag"]
    again = spa.get(path, headers={"Accept-Encoding": coding, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]


def test_compressed_bodies_have_their_own_weak_etag(spa: TestClient) -> None:
    """RFC 9110 §8.8.3: a strong ETag belongs to one byte sequence; a br body is another."""
    tags = {
        c: spa.get(f"{PYODIDE}/pyodide.mjs", headers={"Accept-Encoding": c}).headers["etag"]
        for c in ("identity", "br", "gzip")
    }
    assert not tags["identity"].startswith("W/")
    assert tags["br"].startswith("W/") and tags["gzip"].startswith("W/")
    assert len(set(tags.values())) == 3
    stale = spa.get(f"{PYODIDE}/pyodide.mjs", headers={"Accept-Encoding": "br", "If-None-Match": tags["identity"]})
    assert stale.status_code == 200


@pytest.mark.parametrize("coding", ["identity", "br"])
def test_if_modified_since_gets_304_on_files(spa: TestClient, coding: str) -> None:
    """RFC 9110 §13.1.3."""
    for path in (f"{PYODIDE}/pyodide.mjs", "/main.py", "/app.css"):
        modified = spa.get(path, headers={"Accept-Encoding": coding}).headers["last-modified"]
        again = spa.get(path, headers={"Accept-Encoding": coding, "If-Modified-Since": modified})
        assert again.status_code == 304, path
        garbage = spa.get(path, headers={"Accept-Encoding": coding, "If-Modified-Since": "yesterday"})
        assert garbage.status_code == 200, path


@pytest.mark.parametrize("path", [f"{PYODIDE}/pyodide.mjs", "/", "/mpy.json"])
@pytest.mark.parametrize("coding", ["identity", "br", "gzip"])
def test_head_has_the_headers_of_get_and_no_body(spa: TestClient, path: str, coding: str) -> None:
    get, body = fetch(spa, path, accept_encoding=coding)
    head, nothing = fetch(spa, path, "HEAD", accept_encoding=coding)
    assert head.status_code == 200 and nothing == b""
    for header in ("content-length", "content-type", "etag", "vary", "cache-control"):
        assert head.headers.get(header) == get.headers.get(header), header
    assert int(head.headers["content-length"]) == len(body)


def test_range_requests_get_the_identity_bytes(spa: TestClient) -> None:
    """RFC 9110 §14.2: a range is of the identity bytes here, even when br is acceptable."""
    response, body = fetch(spa, f"{PYODIDE}/pyodide.mjs", accept_encoding="br", range="bytes=10-19")
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert body == file_bytes("pyodide/pyodide.mjs")[10:20]


# --- the SPA's policies are unchanged ---


@pytest.mark.parametrize(
    "path", ["/", "/pyscript.json", "/mpy.json", f"{PYODIDE}/pyodide.mjs", "/vendor/pyodide/x.mjs"]
)
@pytest.mark.parametrize("coding", ["identity", "br"])
def test_security_headers_on_every_app_response(spa: TestClient, path: str, coding: str) -> None:
    """docs/SECURITY.md C8: CSP without inline script and no Referer, compressed or not."""
    response = spa.get(path, headers={"Accept-Encoding": coding})
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


# --- negotiation, unit level ---


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip", "gzip"),
        ("br", "br"),
        ("BR", "br"),
        ("x-gzip", "gzip"),
        ("gzip, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0.5, gzip;q=0.5", "br"),
        ("gzip;q=0.001", "gzip"),
        ("br;q=0, gzip;q=0", "identity"),
        ("*", "br"),
        ("*;q=0", "identity"),
        ("*;q=0, gzip", "gzip"),
        ("identity;q=1, br;q=0.5", "identity"),
        ("identity;q=0", "identity"),
        ("deflate, zstd", "identity"),
        (" , br ; q=1.000 ,", "br"),
        ("br;q=1.0001", "identity"),
        ("br;Q=0.9", "br"),
        ("br;q=.5", "identity"),
    ],
)
def test_negotiate_follows_rfc_9110_12_5_3(accept: str | None, coding: str) -> None:
    """RFC 9110 §12.5.3: weights, q=0 refuses, "*" for the unlisted, identity unless refused."""
    assert negotiate(accept) == coding


@given(st.text())
def test_negotiate_never_fails(accept: str) -> None:
    """docs/SECURITY.md P22 in spirit: any header value gets an answer, never an exception."""
    assert negotiate(accept) in {"identity", "br", "gzip"}


@pytest.mark.parametrize("accept_encoding", ["br", "identity"])
def test_pages_are_never_stored_so_back_cannot_restore_a_signed_in_page(spa: TestClient, accept_encoding: str) -> None:
    """docs/SECURITY.md C7 (tokens in memory): with no-store, a page that held tokens is not kept in
    the back/forward cache; Back loads it afresh, signed out."""
    response, _ = fetch(spa, "/", accept_encoding=accept_encoding)
    assert response.headers["cache-control"] == "no-store"


def test_python_files_are_named_by_content_version_and_immutable_under_it(spa: TestClient) -> None:
    """A warm visit re-fetches none of the app's Python files: the config names each by a hash of
    its bytes, and under that name it may be cached for a year."""
    files = spa.get("/pyscript.json").json()["files"]
    url = next(u for u in files if u.startswith("/spa/signin.py"))
    path, _, version = url.partition("?v=")
    assert version == hashlib.sha256((WEB_DIR / path.lstrip("/")).read_bytes()).hexdigest()[:16]
    assert spa.get(url).headers["cache-control"] == "public, max-age=31536000, immutable"
    assert spa.get(url, headers={"Accept-Encoding": "identity"}).headers["cache-control"].endswith("immutable")
    for other in (path, path + "?v=0000000000000000", path + "?v="):
        assert spa.get(other).headers["cache-control"] == "no-cache", other


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/", "index.html"),
        ("/index.html", "index.html"),
        ("/popup-callback.html", "popup-callback.html"),
        ("/baseline/", "baseline/index.html"),
    ],
)
def test_a_page_is_never_immutable_whatever_its_version(spa: TestClient, path: str, page: str) -> None:
    """docs/SECURITY.md C7: ?v=<the page's content hash> must not make a page cacheable for a year; a
    page that held tokens must never come back from a cache. Only the Python files may."""
    version = hashlib.sha256((WEB_DIR / page).read_bytes()).hexdigest()[:16]
    for query in (f"?v={version}", "?v=0000000000000000", ""):
        for coding in ("br", "identity"):
            response = spa.get(path + query, headers={"Accept-Encoding": coding})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store", (query, coding)


def test_pages_name_their_scripts_and_stylesheets_by_version(spa: TestClient) -> None:
    """The page's own scripts and stylesheet are named by the version of their bytes, and immutable
    at that URL only: a warm load revalidates none of them before its parser may go on."""
    page = spa.get("/").text
    for path in ("/app.css", "/boot.js"):
        version = hashlib.sha256((WEB_DIR / path.lstrip("/")).read_bytes()).hexdigest()[:16]
        assert f'"{path}?v={version}"' in page, path
        assert spa.get(f"{path}?v={version}").headers["cache-control"] == IMMUTABLE, path
        assert spa.get(f"{path}?v=0000000000000000").headers["cache-control"] == "no-cache", path
    assert f'"{PYSCRIPT}/core.js"' in page  # the pinned packages keep their versioned directory


def test_the_page_names_main_py_and_the_configs_by_version(spa: TestClient) -> None:
    """boot.js reads main.py's and the configs' URLs from the page, each with the version of its bytes:
    immutable there, revalidated under any other version; the interpreters' modules it preloads are the
    configs' own URLs."""
    page = spa.get("/").text
    for attribute, path in (("data-py", "/pyscript.json"), ("data-mpy", "/mpy.json"), ("data-main", "/main.py")):
        named = re.search(f'{attribute}="({re.escape(path)}\\?v=[0-9a-f]{{16}})"', page)
        assert named, attribute
        assert spa.get(named.group(1)).headers["cache-control"] == IMMUTABLE, path
        assert spa.get(f"{path}?v=0000000000000000").headers["cache-control"] == "no-cache", path
        assert spa.get(path).headers["cache-control"] == "no-cache", path
    for attribute, config in (("data-py-interpreter", "/pyscript.json"), ("data-mpy-interpreter", "/mpy.json")):
        assert f'{attribute}="{html.escape(spa.get(config).json()["interpreter"])}"' in page


def test_an_edited_file_gets_a_new_version_at_once(tmp_path: Path) -> None:
    """An edit while the server runs: the config names the new bytes, so no stale copy is used."""
    (tmp_path / "pyscript.json").write_text('{"files": {"/app.py": "./app.py"}}')
    (tmp_path / "app.py").write_text("print('one')\n")
    client = TestClient(create_spa_app([], SETTINGS, web_dir=tmp_path), base_url=BASE)
    first = next(iter(client.get("/pyscript.json").json()["files"]))
    (tmp_path / "app.py").write_text("print('two, longer')\n")
    second = next(iter(client.get("/pyscript.json").json()["files"]))
    assert first != second and client.get(second).text == "print('two, longer')\n"
    assert client.get(first).headers["cache-control"] == "no-cache"
