"""docs/SECURITY.md P28 with a real process: `python -m spalab provider` on 127.0.0.1, killed or
stopped mid-flow. A SIGKILL loses nothing committed; a SIGTERM lets in-flight requests finish."""

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from provider_support import challenge_of, hidden, new_verifier

REDIRECT = "http://localhost:8000/"
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Provider:
    """One `python -m spalab provider` process on a port and data dir that outlive it."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.config = tmp_path / "idp.toml"
        self.config.write_text(
            f'issuer = "{self.base}"\n\n[[clients]]\nclient_id = "spa"\nredirect_uris = ["{REDIRECT}"]\n\n'
            '[[users]]\nusername = "alice"\npassword = "wonderland"\n',
            encoding="utf-8",
        )
        self.log = tmp_path / "provider.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "spalab",
            "provider",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.data_dir.parent, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            assert self.process.poll() is None, f"provider exited: {self.tail()}"
            assert time.monotonic() < deadline, f"provider did not start: {self.tail()}"
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            return httpx.get(self.base + "/.well-known/openid-configuration", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def accepts_connections(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait(timeout=EXIT_TIMEOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[Provider]:
    provider = Provider(tmp_path)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


class Browser:
    """A browser with cookies at the provider, and the SPA's side of the code flow."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
        self.verifier = new_verifier()
        self.params = {
            "client_id": "spa",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "st",
            "code_challenge": challenge_of(self.verifier),
            "code_challenge_method": "S256",
        }

    def login_form(self, next_url: str) -> dict[str, str]:
        page = self.http.get("/login", params={"next": next_url})
        return {
            "username": "alice",
            "password": "wonderland",
            "next": next_url,
            "csrf_token": hidden(page.text, "csrf_token"),
        }

    def sign_in_and_consent(self) -> None:
        assert self.http.post("/login", data=self.login_form("/authorize?" + urlencode(self.params))).status_code == 303
        page = self.http.get("/authorize", params=self.params)
        form = {
            "request_id": hidden(page.text, "request_id"),
            "csrf_token": hidden(page.text, "csrf_token"),
            "decision": "allow",
        }
        assert self.http.post("/consent", data=form).status_code == 303

    def code(self) -> str:
        """A code from /authorize, with the session and consent already in place."""
        response = self.http.get("/authorize", params=self.params)
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    def exchange(self, code: str) -> httpx.Response:
        return self.http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": "spa",
                "redirect_uri": REDIRECT,
                "code_verifier": self.verifier,
            },
        )

    def tokens(self) -> dict[str, str]:
        response = self.exchange(self.code())
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def refresh(self, token: str) -> httpx.Response:
        return self.http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "spa"}
        )

    def revoke(self, token: str) -> None:
        assert self.http.post("/revoke", data={"token": token, "client_id": "spa"}).status_code == 200

    def api(self, access_token: str) -> int:
        return self.http.get("/api/me", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_sigkill_loses_nothing_committed(idp: Provider) -> None:
    """docs/SECURITY.md P28: codes, sessions, rotations, revocations and signing keys written
    before a SIGKILL are all there after a restart on the same data dir."""
    browser = Browser(idp.base)
    browser.sign_in_and_consent()
    code = browser.code()  # issued, not yet redeemed
    rotating = browser.tokens()
    rotated = browser.refresh(rotating["refresh_token"]).json()
    revoked = browser.tokens()
    browser.revoke(revoked["refresh_token"])

    idp.signal(signal.SIGKILL)
    assert idp.wait() == -signal.SIGKILL
    idp.start()

    # The session: /authorize answers with a code at once, without the sign-in page.
    assert browser.http.get("/authorize", params=browser.params).headers["location"].startswith(REDIRECT)
    # The signing keys: an access token signed before the kill still verifies.
    assert browser.api(rotated["access_token"]) == 200
    # The code: redeemable once, and a second redemption still counts as a replay.
    redeemed = browser.exchange(code)
    assert redeemed.status_code == 200
    assert browser.exchange(code).json()["error"] == "invalid_grant"
    assert browser.api(redeemed.json()["access_token"]) == 401
    # Rotation: the current refresh token rotates; the one used before the kill is spent.
    assert browser.refresh(rotated["refresh_token"]).status_code == 200
    assert browser.refresh(rotating["refresh_token"]).json()["error"] == "invalid_grant"
    # The revocation sticks.
    assert browser.refresh(revoked["refresh_token"]).json()["error"] == "invalid_grant"
    assert browser.api(revoked["access_token"]) == 401


def test_sigterm_finishes_the_request_in_flight_and_exits_0(idp: Provider) -> None:
    """docs/SECURITY.md P28: on SIGTERM the provider stops accepting connections, answers the
    request it is reading (a sign-in whose body arrives in two parts) in full, then exits 0."""
    browser = Browser(idp.base)
    body = urlencode(browser.login_form("/")).encode()
    first_part_sent, go_on = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield body[:10]
        first_part_sent.set()
        go_on.wait(EXIT_TIMEOUT)
        yield body[10:]

    answers: list[httpx.Response] = []
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))}
    sender = threading.Thread(
        target=lambda: answers.append(browser.http.post("/login", content=slow_body(), headers=headers))
    )
    sender.start()
    assert first_part_sent.wait(EXIT_TIMEOUT)
    time.sleep(0.3)  # let the server read the request line and headers
    idp.signal(signal.SIGTERM)
    while idp.accepts_connections():  # the shutdown has begun once the port is closed
        time.sleep(0.05)
    go_on.set()
    sender.join(EXIT_TIMEOUT)
    assert answers[0].status_code == 303
    assert any(name.startswith("spalab_session_") for name in answers[0].cookies)
    assert idp.wait() == 0


def test_sigterm_exits_0_even_when_a_client_stalls(idp: Provider) -> None:
    """docs/SECURITY.md P28: a request whose body never completes cannot hold the shutdown
    beyond its grace period (cli.SHUTDOWN_GRACE)."""
    with socket.create_connection(("127.0.0.1", idp.port)) as stalled:
        stalled.sendall(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type="
        )
        time.sleep(0.3)  # let the server read the request line and headers
        idp.signal(signal.SIGTERM)
        assert idp.wait() == 0
