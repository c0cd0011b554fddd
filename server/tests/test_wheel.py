"""spalab as a user installs it: the wheel built with the standard tooling, installed into a clean venv
(its dependencies from requirements/demo.lock, hash-checked), run from a directory outside the repository.
`spalab provider` needs only the package's own data; `spalab serve` needs --web-dir (web/ of a checkout)."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from test_cli import START_TIMEOUT, free_port, write_config

REPO = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with only the locked runtime dependencies and the wheel; returns its bin/."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: setuptools' build/ in the checkout could leak stale files into the wheel
    shutil.copytree(
        REPO / "server" / "spalab", source / "server" / "spalab", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    # No build isolation: the test extra pins setuptools, so the build needs no download.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(root / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("spalab-*.whl")
    target = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = ["--python", str(target / "bin" / "python")]
    lock = REPO / "requirements" / "demo.lock"
    subprocess.run([*PIP, *python, "install", "--require-hashes", "-r", str(lock)], check=True)
    subprocess.run([*PIP, *python, "install", "--no-deps", str(wheel)], check=True)
    return target / "bin"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory outside the repository, with a data dir in it."""
    (tmp_path / "data").mkdir()
    return tmp_path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPALAB_WEB_DIR")}
    return {**env, **extra}


def wait_until_up(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, f"spalab exited with {process.returncode}: {log_path.read_text()[-2000:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"spalab did not start: {log_path.read_text()[-2000:]}"
        time.sleep(0.1)


@contextmanager
def running(command: list[str], cwd: Path, url: str) -> Iterator[None]:
    log = (cwd / "server.log").open("w")
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
    try:
        wait_until_up(process, url, cwd / "server.log")
        yield
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=10) == 0, "SIGTERM should stop spalab cleanly"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def test_spalab_runs_from_the_installed_wheel_not_the_checkout(venv: Path, outside: Path) -> None:
    found = subprocess.run(
        [str(venv / "python"), "-c", "import spalab; print(spalab.__file__)"],
        cwd=outside,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(found.stdout.strip()).is_relative_to(venv.parent)


def test_provider_from_the_wheel_answers_discovery_and_renders_its_pages(venv: Path, outside: Path) -> None:
    port = free_port()
    config = write_config(outside / "idp.toml", port)
    base = f"http://127.0.0.1:{port}"
    command = [str(venv / "spalab"), "provider", "--config", str(config), "--port", str(port), "--data-dir", "data"]
    with running(command, outside, base + "/.well-known/openid-configuration"):
        assert httpx.get(base + "/.well-known/openid-configuration").json()["issuer"] == base
        assert httpx.get(base + "/").status_code == 200  # a template from the package's data
        assert httpx.get(base + "/static/provider.css").status_code == 200


def test_serve_from_the_wheel_with_web_dir_serves_the_spa_and_the_provider(venv: Path, outside: Path) -> None:
    spa_port, provider_port = free_port(), free_port()
    command = [
        str(venv / "spalab"),
        "serve",
        "--web-dir",
        str(REPO / "web"),
        "--spa-port",
        str(spa_port),
        "--provider-port",
        str(provider_port),
        "--data-dir",
        "data",
    ]
    spa, issuer = f"http://127.0.0.1:{spa_port}", f"http://127.0.0.1:{provider_port}"
    with running(command, outside, issuer + "/.well-known/openid-configuration"):
        assert httpx.get(spa + "/").status_code == 200
        config = httpx.get(spa + "/pyscript.json").json()
        assert config["spalab"]["issuer"] == issuer
        # The Node scripts are package data too: the snapshot's maker and the package's compiler.
        assert config["interpreter"].startswith("/pyodide-loader.mjs?") and "/pyodide-" in config["packages"][0]
        assert httpx.get(spa + "/lab/live.js").status_code == 200  # host/static/lab-live.js, package data
        assert httpx.get(issuer + "/.well-known/openid-configuration").json()["issuer"] == issuer


def test_serve_from_the_wheel_without_web_dir_exits_2_saying_what_to_pass(venv: Path, outside: Path) -> None:
    command = [str(venv / "spalab"), "serve", "--spa-port", str(free_port()), "--provider-port", str(free_port())]
    result = subprocess.run(command, cwd=outside, env=clean_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--web-dir" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_a_web_dir_that_is_not_the_spa_exits_2(venv: Path, outside: Path) -> None:
    command = [str(venv / "spalab"), "serve", "--spa-port", str(free_port()), "--provider-port", str(free_port())]
    result = subprocess.run(
        command, cwd=outside, env=clean_env(SPALAB_WEB_DIR=str(outside)), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert str(outside) in result.stderr and "Traceback" not in result.stderr  # the directory the variable named
