"""spalab-auth's modules compiled for the pinned Pyodide by the host (issue 15; spalab.host.bytecode): the
Pyodide configs name the package's wheel with a .pyc beside each module. That the pages import them is
e2e/test_pyodide_restore.py's."""

import base64
import csv
import hashlib
import io
import json
import logging
import shutil
import zipfile
from pathlib import Path

import brotli
import pytest
from starlette.testclient import TestClient

from spalab.host.app import WEB_DIR, _configs, create_spa_app
from spalab.host.bytecode import PyodideWheel, _stem
from spalab.host.package import PLAIN_PREFIX, build_wheel
from spalab.host.vendor import Vendored, VendorURLs, find_vendored

NODE = str(shutil.which("node"))  # the tests that need it are skipped without it (pytestmark)
BASE = "http://localhost:8000"
SETTINGS = {"issuer": "http://127.0.0.1:9000", "client_id": "spa-demo", "redirect_uri": "http://localhost:8000/"}
MODULES = WEB_DIR / "node_modules"
PINS = json.loads((WEB_DIR / "package.json").read_text())["dependencies"] if WEB_DIR.is_dir() else {}
IMMUTABLE = "public, max-age=31536000, immutable"
PYODIDE_CONFIGS = (
    "/pyscript.json",
    "/example/pyscript.json",
    "/example/worker.json",
    "/lab/storage/shared/pyscript.json",
)

pytestmark = [
    pytest.mark.skipif(not MODULES.is_dir(), reason="run npm ci in web/ first"),
    pytest.mark.skipif(shutil.which("node") is None, reason="the modules are compiled with Node"),
]
# A .pyc's header (PEP 552): the magic number, then flags: 0b01 is "hash-based, unchecked".
UNCHECKED_HASH = 0b01


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS), base_url=BASE)


def _wheel(spa: TestClient, url: str) -> zipfile.ZipFile:
    with spa.stream("GET", url, headers={"accept-encoding": "br"}) as response:
        sent = b"".join(response.iter_raw())
    assert response.status_code == 200 and response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"] == "application/zip" and response.headers["content-encoding"] == "br"
    return zipfile.ZipFile(io.BytesIO(brotli.decompress(sent)))


def _pycs(wheel: zipfile.ZipFile) -> dict[str, bytes]:
    return {name: wheel.read(name) for name in wheel.namelist() if name.endswith(".pyc")}


def test_pyodide_configs_name_the_wheel_with_each_module_compiled(spa: TestClient) -> None:
    """Every Pyodide config names one wheel under the package's immutable prefix: the plain wheel's files
    unchanged, plus for each module an unchecked-hash .pyc where Pyodide's import system looks for it
    (__pycache__/<name>.cpython-3XX.pyc), each listed in the RECORD with its hash. MicroPython's configs
    and the plain wheel's URL are as before."""
    named = {url for path in PYODIDE_CONFIGS for url in spa.get(path).json()["packages"]}
    assert len(named) == 1
    (url,) = named
    plain_url = spa.get("/pkg/spalab-auth/").text.split("\n")[1]
    prefix, _, filename = plain_url.rpartition("/")
    assert url.startswith(prefix + "/pyodide-") and url.endswith("/" + filename)
    compiled = _wheel(spa, url)
    plain = zipfile.ZipFile(io.BytesIO(spa.get(plain_url).content))
    record_name = next(n for n in plain.namelist() if n.endswith("RECORD"))
    for name in plain.namelist():
        if name != record_name:
            assert compiled.read(name) == plain.read(name), name
    modules = [name for name in plain.namelist() if name.endswith(".py")]
    pycs = _pycs(compiled)
    assert len(pycs) == len(modules) > 20
    tags = set()
    for module in modules:
        folder, _, file = module.rpartition("/")
        [pyc] = [n for n in pycs if n.startswith(f"{folder}/__pycache__/{file[:-3]}.cpython-3")]
        tags.add(pyc.rsplit(".", 2)[1])
        assert int.from_bytes(pycs[pyc][4:8], "little") == UNCHECKED_HASH
    assert len(tags) == 1
    record = {row[0]: row[1:] for row in csv.reader(io.StringIO(compiled.read(record_name).decode()))}
    for name, body in pycs.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        assert record[name] == [f"sha256={digest}", str(len(body))]
    assert set(record) == set(compiled.namelist())
    for path in ("/mpy.json", "/example/mpy.json"):
        assert all("pyodide-" not in url for url in spa.get(path).text.split('"'))


def test_a_changed_module_gets_its_own_bytecode_at_another_url(tmp_path: Path) -> None:
    """The .pyc files are unchecked (used without a look at the source), so they must never outlive their
    source: an edited module is a new package build, compiled again (not taken from the cache) and served
    at another URL, and only that module's bytecode changes."""
    pyodide = _pyodide(tmp_path)
    modules = pyodide.directory.parent
    project = tmp_path / "client"
    shutil.copytree(WEB_DIR / "client", project, ignore=shutil.ignore_patterns("__pycache__"))
    before = PyodideWheel.find_or_make(build_wheel(project), pyodide, NODE)
    pkce = project / "spalab_auth" / "core" / "pkce.py"
    pkce.write_text(pkce.read_text() + "\nEDITED = 1\n")
    after = PyodideWheel.find_or_make(build_wheel(project), pyodide, NODE)
    assert before is not None and after is not None and before.url != after.url
    old, new = (_pycs(zipfile.ZipFile(io.BytesIO(w.content))) for w in (before, after))
    changed = sorted(name for name in old if old[name] != new[name])
    assert len(changed) == 1 and changed[0].startswith("spalab_auth/core/__pycache__/pkce.")
    assert b"EDITED" in new[changed[0]]
    assert len(list((modules / ".cache" / "spalab").glob("spalab-auth-*.zip"))) == 1  # the older one removed


def test_a_damaged_cache_is_compiled_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pyodide = _pyodide(tmp_path)
    modules = pyodide.directory.parent
    wheel = build_wheel(WEB_DIR / "client")
    first = PyodideWheel.find_or_make(wheel, pyodide, NODE)
    [cached] = (modules / ".cache" / "spalab").glob("spalab-auth-*.zip")
    body = bytearray(cached.read_bytes())
    body[2000:2100] = bytes(100)
    cached.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="spalab.host"):
        again = PyodideWheel.find_or_make(wheel, pyodide, NODE)
    assert "is damaged" in caplog.text
    assert first is not None and again is not None and again.content == first.content


def test_without_node_or_the_snapshot_pyodide_pages_get_the_plain_wheel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`spalab serve --no-pyodide-snapshot` (and a host without Node) serves what the pinned Pyodide gets
    without the host's help: the plain wheel, which the page compiles."""
    for spa in (TestClient(create_spa_app([], SETTINGS, pyodide_snapshot=False), base_url=BASE),):
        [url] = spa.get("/pyscript.json").json()["packages"]
        assert "/pyodide-" not in url and spa.get(url).status_code == 200
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="spalab.host"):
        spa = TestClient(create_spa_app([], SETTINGS), base_url=BASE)
    [url] = spa.get("/pyscript.json").json()["packages"]
    assert "/pyodide-" not in url and "compile spalab-auth's modules themselves" in caplog.text


def _pyodide(tmp_path: Path) -> Vendored:
    """The pinned Pyodide, seen through a node_modules of this test's own (its cache is the test's)."""
    modules = tmp_path / "node_modules"
    modules.mkdir()
    (modules / "pyodide").symlink_to(MODULES / "pyodide")
    return Vendored("pyodide", PINS["pyodide"], modules / "pyodide")


def test_bytecode_of_other_sources_is_refused_whatever_the_cache_says(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The .pyc files are used without a look at the source, so each one's recorded source hash must be that
    of the module served beside it: bytecode of other sources filed under this build's name (a file saved
    while the host started, a cache copied from elsewhere), its own hash in order, is refused and compiled
    again, and the page never gets it."""
    pyodide = _pyodide(tmp_path)
    project = tmp_path / "client"
    shutil.copytree(WEB_DIR / "client", project, ignore=shutil.ignore_patterns("__pycache__"))
    wheel = build_wheel(project)
    pkce = project / "spalab_auth" / "core" / "pkce.py"
    pkce.write_text(pkce.read_text() + "\nEDITED = 1\n")
    other = PyodideWheel.find_or_make(build_wheel(project), pyodide, NODE)
    [cached] = (pyodide.directory.parent / ".cache" / "spalab").glob("spalab-auth-*.zip")
    body = cached.read_bytes()
    cached.unlink()
    planted = cached.parent / f"{_stem(wheel, pyodide)}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
    planted.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="spalab.host"):
        served = PyodideWheel.find_or_make(wheel, pyodide, NODE)
    assert "was not compiled from this spalab_auth/core/pkce.py" in caplog.text and not planted.exists()
    assert served is not None and other is not None
    pyc = next(n for n in _pycs(zipfile.ZipFile(io.BytesIO(served.content))) if "/pkce." in n)
    assert b"EDITED" not in zipfile.ZipFile(io.BytesIO(served.content)).read(pyc)


def test_only_configs_of_the_pinned_pyodide_get_the_compiled_wheel(tmp_path: Path) -> None:
    """A config naming another interpreter (another Pyodide, a CDN's) keeps the plain wheel: the bytecode is
    the pinned Pyodide's."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "node_modules").symlink_to(MODULES)
    wheel = build_wheel(WEB_DIR / "client")
    compiled = PyodideWheel.find_or_make(wheel, next(v for v in find_vendored(MODULES) if v.name == "pyodide"), NODE)
    assert compiled is not None
    urls = VendorURLs(find_vendored(MODULES))
    urls.pairs.append((PLAIN_PREFIX, wheel.prefix))  # as create_spa_app does
    config = json.loads((WEB_DIR / "pyscript.json").read_text())
    config["files"] = {}
    for interpreter, expected in (("/vendor/pyodide/pyodide.mjs", compiled.url), ("/other/pyodide.mjs", wheel.url)):
        (web / "pyscript.json").write_text(json.dumps({**config, "interpreter": interpreter}))
        configs = _configs(web, SETTINGS, urls, wheel, None, None, compiled)
        assert json.loads(configs["/pyscript.json"]().load())["packages"] == [expected]
