"""`spalab provider` as a user runs it: a real process on a real port, its errors on stderr,
and its keys and tokens kept in the data dir across a restart."""

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from provider_support import challenge_of, new_verifier

SPALAB = Path(sys.executable).parent / "spalab"
REDIRECT = "http://localhost:8000/"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(
        f'issuer = "http://127.0.0.1:{port}"\n{extra}\n'
        '[[clients]]\nclient_id = "spa"\nredirect_uris = ["http://localhost:8000/"]\n\n'
        '[[users]]\nusername = "alice"\npassword = "wonderland"\n',
        encoding="utf-8",
    )
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs a command expected to fail fast."""
    return subprocess.run([str(SPALAB), *args], cwd=cwd, capture_output=True, text=True, timeout=30)


@contextmanager
def provider(config: Path, port: int, data_dir: Path, *options: str) -> Iterator[str]:
    """Starts `spalab provider`, waits until discovery answers, yields the base URL, then stops it. Its
    output is in provider-<port>.log beside the data dir."""
    log = (data_dir.parent / f"provider-{port}.log").open("w")
    command = [str(SPALAB), "provider", "--config", str(config), "--port", str(port), "--data-dir", str(data_dir)]
    command += options
    process = subprocess.Popen(command, cwd=data_dir.parent, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"provider exited with {process.returncode}: {_read(log)}"
            try:
                if httpx.get(base + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"provider did not start: {_read(log)}"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=10) == 0, "SIGTERM should stop the provider cleanly"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def _read(log) -> str:  # type: ignore[no-untyped-def]
    log.flush()
    return Path(log.name).read_text(encoding="utf-8", errors="replace")[-2000:]


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def sign_in_and_get_tokens(base: str) -> dict[str, str]:
    """The browser's part with httpx: /authorize → login form → consent form → code → /token."""
    verifier = new_verifier()
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as browser:
        response = browser.get(
            "/authorize",
            params={
                "client_id": "spa",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "openid offline_access",
                "state": "st",
                "code_challenge": challenge_of(verifier),
                "code_challenge_method": "S256",
            },
        )
        assert response.status_code == 302
        login = browser.get(response.headers["location"])
        next_url = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
        signed_in = browser.post(
            "/login",
            data={
                "username": "alice",
                "password": "wonderland",
                "next": next_url,
                "csrf_token": _hidden(login.text, "csrf_token"),
            },
        )
        assert signed_in.status_code == 303
        consent = browser.get(signed_in.headers["location"])
        assert consent.status_code == 200
        decision = {
            "request_id": _hidden(consent.text, "request_id"),
            "csrf_token": _hidden(consent.text, "csrf_token"),
            "decision": "allow",
        }
        back = browser.post("/consent", data=decision)
        assert back.status_code == 303
        assert back.headers["location"].startswith(REDIRECT)
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        tokens = browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": "spa",
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
        assert tokens.status_code == 200, tokens.text
        return tokens.json()  # type: ignore[no-any-return]


def test_provider_serves_discovery_for_the_configured_issuer(tmp_path: Path) -> None:
    """README "The provider as a local test identity provider": the issuer comes from the config file."""
    port = free_port()
    config = write_config(tmp_path / "idp.toml", port)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with provider(config, port, data_dir) as base:
        metadata = httpx.get(base + "/.well-known/openid-configuration").json()
        assert metadata["issuer"] == f"http://127.0.0.1:{port}"
        assert metadata["token_endpoint"] == f"http://127.0.0.1:{port}/token"
        assert httpx.get(base + "/jwks").json()["keys"]
    assert (data_dir / "spalab.sqlite3").exists()


@pytest.mark.parametrize("options", [(), ("--no-access-log",)])
def test_the_access_log_writes_a_line_per_request_unless_turned_off(tmp_path: Path, options: tuple[str, ...]) -> None:
    """README "The provider as a local test identity provider": one console line per request by default;
    `--no-access-log` drops those lines, and only those (a refused Host is still a warning)."""
    port = free_port()
    config = write_config(tmp_path / "idp.toml", port)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with provider(config, port, data_dir, *options) as base:
        assert httpx.get(base + "/jwks", params={"probe": "1"}).status_code == 200
        assert httpx.get(base + "/jwks", headers={"Host": "evil.example"}).status_code == 421
    output = (tmp_path / f"provider-{port}.log").read_text(encoding="utf-8")
    assert ("provider GET /jwks query=[probe]" in output) is not bool(options), output
    assert "refused GET /jwks: Host not served here" in output, output  # a warning: logged either way


@pytest.mark.parametrize("options", [(), ("--no-access-log",)], ids=["default", "no-access-log"])
def test_serve_writes_a_line_per_request_from_both_servers_unless_turned_off(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    """README "Two commands": `spalab serve` logs each request of the SPA host and of the provider, and
    `--no-access-log` drops those lines, and only those (a refused Host is still a warning)."""
    spa, issuer = f"http://localhost:{free_port()}", f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "serve.log"
    (tmp_path / "data").mkdir()
    command = [str(SPALAB), "serve", "--spa-port", spa.rpartition(":")[2], "--provider-port"]
    command += [issuer.rpartition(":")[2], "--data-dir", str(tmp_path / "data"), *options]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for url in (issuer + "/.well-known/openid-configuration", spa + "/app.css"):
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert httpx.get(spa + "/app.css", params={"probe": "1"}).status_code == 200
        assert httpx.get(issuer + "/jwks", params={"probe": "1"}).status_code == 200
        assert httpx.get(spa + "/app.css", headers={"Host": "evil.example"}).status_code == 421
    finally:
        process.terminate()
        process.wait(timeout=20)
    output = log.read_text(encoding="utf-8")
    assert ("spa-host GET /app.css query=[probe]" in output) is not bool(options), output
    assert ("provider GET /jwks query=[probe]" in output) is not bool(options), output
    assert "refused GET /app.css: Host not served here" in output, output


def test_port_in_use_exits_2_naming_the_port(tmp_path: Path) -> None:
    """README: a busy port is a clear error (exit code 2, the port named), not a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path / "idp.toml", port)
        (tmp_path / "data").mkdir()
        result = run_cli(
            "provider", "--config", str(config), "--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path
        )
    assert result.returncode == 2
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_config_exits_2_naming_key_and_line(tmp_path: Path) -> None:
    """README "Configuration file": the message names the key and the line."""
    config = write_config(tmp_path / "idp.toml", free_port(), extra='code_lifetime = "sixty"')
    (tmp_path / "data").mkdir()
    result = run_cli("provider", "--config", str(config), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 2
    assert "code_lifetime" in result.stderr
    assert "line 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    """README: --config names a file; a missing one is named in the message."""
    result = run_cli("provider", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_dir_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    """README: --data-dir must exist; the message names it and says what to do."""
    config = write_config(tmp_path / "idp.toml", free_port())
    missing = tmp_path / "no-such-dir"
    result = run_cli(
        "provider", "--config", str(config), "--port", str(free_port()), "--data-dir", str(missing), cwd=tmp_path
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_bad_port_argument_is_a_usage_error(tmp_path: Path) -> None:
    """README: --port N takes a port number."""
    config = write_config(tmp_path / "idp.toml", free_port())
    for port in ("65536", "http"):
        result = run_cli("provider", "--config", str(config), "--port", port, cwd=tmp_path)
        assert result.returncode == 2, port
        assert "--port" in result.stderr


def test_keys_and_refresh_tokens_survive_a_restart(tmp_path: Path) -> None:
    """README: keys and refresh tokens live in the data dir and survive a restart."""
    port = free_port()
    config = write_config(tmp_path / "idp.toml", port)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with provider(config, port, data_dir) as base:
        kids = [key["kid"] for key in httpx.get(base + "/jwks").json()["keys"]]
        tokens = sign_in_and_get_tokens(base)
    with provider(config, port, data_dir) as base:
        assert [key["kid"] for key in httpx.get(base + "/jwks").json()["keys"]] == kids
        # The access token signed before the restart still verifies with the same key.
        me = httpx.get(base + "/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        refreshed = httpx.post(
            base + "/token",
            data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": tokens["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
        fresh = refreshed.json()
        assert (
            httpx.get(base + "/api/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200
        )
        # Rotation state survived too: the pre-restart token is now spent.
        replay = httpx.post(
            base + "/token",
            data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": tokens["refresh_token"]},
        )
        assert replay.json()["error"] == "invalid_grant"


def test_connections_accepted_on_the_bound_sockets_send_without_nagle_delay() -> None:
    """Responses on a kept-alive connection must not wait for the client's delayed ACK (~40 ms
    each): asyncio, which uvicorn serves our pre-bound sockets with, sets TCP_NODELAY on the
    connections it accepts only when the listening socket was created as IPPROTO_TCP."""
    import asyncio

    from spalab.cli import _bind

    async def accepted_nodelay() -> list[int]:
        seen: list[int] = []
        sockets = _bind("127.0.0.1", free_port(), "--port")

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Probe, sock=sockets[0])
        _, writer = await asyncio.open_connection(*sockets[0].getsockname()[:2])
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()
        return seen

    assert asyncio.run(accepted_nodelay()) == [1]


def test_serve_with_another_issuer_allows_the_endpoints_of_both_discovery_documents() -> None:
    """The SPA's CSP connect-src: a revocation endpoint on another origin, listed only in the RFC 8414
    document, is reachable too (the SPA reads it there when the OpenID document has none)."""
    from provider_support import serving
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from spalab.cli import _connect_origins, _read_metadata

    issuer: list[str] = []

    async def openid(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"issuer": issuer[0], "token_endpoint": issuer[0] + "/token"})

    async def oauth(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"issuer": issuer[0], "revocation_endpoint": "https://revoke.example.test/revoke"})

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", openid),
            Route("/.well-known/oauth-authorization-server", oauth),
        ]
    )
    with serving(app) as base:
        issuer.append(base)
        assert _connect_origins(base, _read_metadata(base + "/.well-known/openid-configuration")) == [
            base,
            "https://revoke.example.test",
        ]
