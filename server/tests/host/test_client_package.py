"""The spalab-auth package (web/client) as adopters get it: one py3-none-any wheel, built by
the standard tooling, served by the SPA host at an immutable URL that changes with its sources."""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from spalab.host import mpy
from spalab.host.app import WEB_DIR, create_spa_app
from spalab.host.package import build_wheel

CLIENT = WEB_DIR / "client"
SETTINGS = {
    "issuer": "http://127.0.0.1:9000",
    "client_id": "spa-demo",
    "redirect_uri": "http://localhost:8000/",
    "popup_redirect_uri": "http://localhost:8000/popup-callback.html",
}


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app(["http://127.0.0.1:9000"], SETTINGS), base_url="http://localhost:8000")


def wheel_files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("RECORD")}


@pytest.mark.parametrize(
    "command",
    [
        ["pip", "wheel", "--no-deps", "--no-build-isolation", "-w"],  # README's, with the demo's venv
        ["build", "--wheel", "--no-isolation", "--outdir"],
    ],
    ids=["pip-wheel", "build"],
)
def test_the_documented_build_commands_make_the_wheel_the_host_serves(tmp_path: Path, command: list[str]) -> None:
    subprocess.run([sys.executable, "-m", *command, str(tmp_path), str(CLIENT)], check=True, capture_output=True)
    (built,) = tmp_path.glob("*.whl")
    served = build_wheel(CLIENT)
    assert built.name == served.filename == f"spalab_auth-{served.version}-py3-none-any.whl"
    assert wheel_files(built.read_bytes()) == wheel_files(served.content)


def test_the_wheel_is_the_whole_package_and_nothing_else() -> None:
    files = wheel_files(build_wheel(CLIENT).content)
    modules = {name for name in files if name.endswith(".py")}
    on_disk = {p.relative_to(CLIENT).as_posix() for p in (CLIENT / "spalab_auth").rglob("*.py")}
    assert modules == on_disk
    assert "spalab_auth/core/logout.py" in modules and "spalab_auth/auth.py" in modules
    metadata = files[next(n for n in files if n.endswith("METADATA"))].decode()
    assert "Name: spalab-auth" in metadata
    assert "Requires-Dist" not in metadata  # pure Python, no dependencies: it runs on MicroPython too
    assert not [n for n in files if "tests" in n or n.endswith((".pyc", ".pyi"))]
    scripts = {name for name in files if name.endswith(".js")}
    assert scripts == {"spalab_auth/worker.js", "spalab_auth/popup.js", "spalab_auth/popup-callback.js"}


def test_the_configs_name_the_wheel_at_its_immutable_url(spa: TestClient) -> None:
    wheel = build_wheel(CLIENT)
    for path in ("/pyscript.json", "/example/pyscript.json"):
        # Pyodide's: the same wheel with its modules compiled for the pinned Pyodide (host/bytecode.py).
        [url] = spa.get(path).json()["packages"]
        assert url.startswith(wheel.prefix + "pyodide-") and url.endswith("/" + wheel.filename)
    for path in ("/mpy.json", "/example/mpy.json"):
        config = spa.get(path).json()
        # Each module compiled to MicroPython bytecode (host/mpy.py), in the one file its loader unpacks.
        query = parse_qs(urlsplit(config["interpreter"]).query)
        bundle = spa.get(f"/mpy-bundle/{query['bundle'][0]}?v={query['bv'][0]}")
        assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
        compiled = {path: mpy.compile_module(source, path) for path, source in wheel.modules.items()}
        assert {dest: body for dest, body in mpy.unbundle(bundle.content) if dest.startswith("./spalab_auth/")} == {
            f"./{path[:-3]}.mpy": body for path, body in compiled.items()
        }
        assert "packages" not in config and not [url for url in config["files"] if url.startswith("/pkg/")]
    response = spa.get(wheel.url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert wheel_files(response.content) == wheel_files(wheel.content)


def test_the_token_worker_is_served_beside_the_wheel_from_the_wheel(spa: TestClient) -> None:
    """docs/SECURITY.md C12: worker.js is a same-origin script (worker-src 'self'), the wheel's own copy,
    immutable like it; the example's worker pages start it from the config's rewritten URL."""
    wheel = build_wheel(CLIENT)
    served = spa.get(wheel.prefix + "worker.js")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert served.content == wheel_files(wheel.content)["spalab_auth/worker.js"]
    assert "worker-src 'self'" in served.headers["content-security-policy"]
    for page in ("worker", "worker-mpy"):
        auth = spa.get(f"/example/{page}.json").json()["auth"]
        assert (auth["storage"], auth["dpop"], auth["worker_url"]) == ("worker", False, wheel.prefix + "worker.js")
        assert auth["redirect_uri"] == f"http://localhost:8000/example/{page}.html"
        assert spa.get(f"/example/{page}.html").status_code == 200


def test_the_popup_scripts_are_served_beside_the_wheel_from_the_wheel(spa: TestClient) -> None:
    """Popup sign-in's two scripts come with the package, as adopters get them: the pages that use them
    name them at the wheel's immutable prefix (the host rewrites /pkg/spalab-auth/), and what is served
    there is the wheel's own copy."""
    wheel = build_wheel(CLIENT)
    files = wheel_files(wheel.content)
    users = {
        "popup.js": ["/", "/example/", "/example/mpy.html", "/example/worker.html", "/example/worker-mpy.html"],
        "popup-callback.js": ["/popup-callback.html"],
    }
    for name, pages in users.items():
        served = spa.get(wheel.prefix + name)
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.content == files["spalab_auth/" + name]
        for page in pages:
            assert f'<script src="{wheel.prefix}{name}"></script>' in spa.get(page).text, (name, page)
    # The example's pages sign in in a popup through the demo's callback page (one more redirect URI).
    for config in ("pyscript", "mpy", "worker", "worker-mpy"):
        auth = spa.get(f"/example/{config}.json").json()["auth"]
        assert auth["popup_redirect_uri"] == "http://localhost:8000/popup-callback.html", config


def test_the_url_changes_with_the_sources_and_only_with_them(tmp_path: Path) -> None:
    """Immutable is only safe if an edited package gets a new URL, and one URL never names two files: the
    same sources build the same bytes whatever the files' times (a checkout, a `touch`, another machine)."""
    copy = tmp_path / "client"
    subprocess.run(["cp", "-r", str(CLIENT), str(copy)], check=True)
    before = build_wheel(copy)
    auth = copy / "spalab_auth" / "auth.py"
    os.utime(auth, (1_700_000_000, 1_700_000_000))
    touched = build_wheel(copy)
    assert (touched.content, touched.url) == (before.content, before.url)
    auth.write_text(auth.read_text() + "\n# edited\n")
    assert build_wheel(copy).prefix != before.prefix


@pytest.mark.parametrize(
    "path", ["/pkg/spalab-auth/spalab_auth-0.1.0-py3-none-any.whl", "/pkg/spalab-auth@0.0.1/x.whl", "/pkg/"]
)
def test_other_package_urls_are_a_readable_404(spa: TestClient, path: str) -> None:
    response = spa.get(path)
    assert response.status_code == 404
    assert build_wheel(CLIENT).url in response.text


def test_the_version_is_one_value() -> None:
    """__version__ is what the wheel, the configs and the changelog say."""
    wheel = build_wheel(CLIENT)
    init = (CLIENT / "spalab_auth" / "__init__.py").read_text()
    assert f'__version__ = "{wheel.version}"' in init
    assert f"## {wheel.version}" in (CLIENT / "CHANGELOG.md").read_text()
    for config in (WEB_DIR / "pyscript.json", WEB_DIR / "example" / "pyscript.json"):
        assert json.loads(config.read_text())["packages"] == [f"/pkg/spalab-auth/{wheel.filename}"]


def test_the_readme_reference_is_the_docstrings_of_today() -> None:
    script = WEB_DIR.parent / "scripts" / "client_reference.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
