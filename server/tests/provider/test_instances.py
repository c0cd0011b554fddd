"""Several provider processes on one database (issue 14; docs/SECURITY.md P37): real `spalab provider`
processes, started as an operator would, on one SQLite file or one PostgreSQL database. What is
atomic in one process must stay atomic across them, and nothing a flow depends on may live in one
process's memory."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from provider_support import REDIRECT, TEST_CONFIG, Flow, api, race, seeded

RACERS = 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Instance:
    """One `spalab provider` process (with --workers, several) on a port of its own."""

    def __init__(self, config: Path, data_dir: Path, database: str | None, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "spalab", "provider", "--config", str(config), "--port", str(self.port)]
        command += ["--data-dir", str(data_dir), "--workers", str(workers)]
        if database:
            command += ["--database", database]
        self.log = data_dir / f"instance-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the provider exited: {self.log.read_text()}"
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the provider at {self.url} was not ready in {timeout} s: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL, to the whole process group: no shutdown, no flush, as a crash or a power cut."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


Start = Callable[..., Instance]


@pytest.fixture
def start(tmp_path: Path, database: str | None) -> Iterator[Start]:
    """Starts instances on the test's database; all are stopped after the test."""
    config = tmp_path / "provider.toml"
    config.write_text(TEST_CONFIG)
    started: list[Instance] = []

    def start_instance(workers: int = 1, wait: bool = True) -> Instance:
        instance = Instance(config, tmp_path, database, workers)
        started.append(instance)
        if wait:
            instance.wait_ready()
        return instance

    yield start_instance
    for instance in started:
        instance.stop()


@pytest.fixture
def pair(start: Start, tmp_path: Path, database: str | None) -> list[Instance]:
    seeded(tmp_path, database)  # this session's signing key: no key generation per test
    return [start(), start()]


def exchange_form(flow: Flow, code: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "spa",
        "code_verifier": flow.verifier,
    }


def test_a_code_issued_by_one_instance_is_redeemed_at_another(pair: list[Instance]) -> None:
    """The code, the session and the signing key all live in the database: B honours what A issued,
    and A honours B's tokens."""
    a, b = pair
    with httpx.Client(base_url=a.url) as at_a, httpx.Client(base_url=b.url) as at_b:
        flow = Flow(at_a)  # type: ignore[arg-type]
        code = flow.code()
        answer = at_b.post("/token", data=exchange_form(flow, code))
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert api(at_a, tokens["access_token"]).status_code == 200  # type: ignore[arg-type]
        refreshed = at_a.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        )
        assert refreshed.status_code == 200, refreshed.text
        # A's session cookie is good at B: B signs the user in without a password.
        flow_b = Flow(at_b)  # type: ignore[arg-type]
        flow_b.client.cookies = at_a.cookies
        direct = flow_b.authorize(flow_b.code_params())
        assert direct.status_code == 302 and "code=" in direct.headers["location"], direct.text


def test_64_concurrent_redemptions_of_one_code_over_two_instances(pair: list[Instance]) -> None:
    """RFC 6749 §4.1.2 / docs/SECURITY.md P8, P9: exactly one succeeds, and the replays revoke what it got."""
    a, b = pair
    with httpx.Client(base_url=a.url) as browser:
        flow = Flow(browser)  # type: ignore[arg-type]
        answers = race([a.url, b.url], "/token", exchange_form(flow, flow.code()), RACERS)
        assert len(answers) == RACERS
        assert sorted(x.status_code for x in answers) == [200] + [400] * (RACERS - 1)
        assert {x.json()["error"] for x in answers if x.status_code == 400} == {"invalid_grant"}
        winner = next(x for x in answers if x.status_code == 200).json()
        for instance in pair:
            assert api(browser, winner["access_token"], instance.url + "/api/me").status_code == 401  # type: ignore[arg-type]


def test_64_concurrent_refreshes_of_one_token_over_two_instances(pair: list[Instance]) -> None:
    """RFC 9700 §4.14.2 / docs/SECURITY.md P12: one rotation wins; the reuse revokes the whole family."""
    a, b = pair
    with httpx.Client(base_url=a.url) as browser:
        flow = Flow(browser)  # type: ignore[arg-type]
        tokens = flow.exchange(flow.code()).json()
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        answers = race([a.url, b.url], "/token", form, RACERS)
        assert sorted(x.status_code for x in answers) == [200] + [400] * (RACERS - 1)
        winner = next(x for x in answers if x.status_code == 200).json()
        again = browser.post("/token", data={**form, "refresh_token": winner["refresh_token"]})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert api(browser, winner["access_token"]).status_code == 401  # type: ignore[arg-type]
        assert api(browser, tokens["access_token"], b.url + "/api/me").status_code == 401  # type: ignore[arg-type]


def test_an_instance_killed_mid_flow_loses_nothing_it_answered(pair: list[Instance]) -> None:
    """What an instance answered was committed first: after a SIGKILL, the other instance finishes the flow
    (the code A issued, A's session) and refuses a replay of what A consumed."""
    a, b = pair
    with httpx.Client(base_url=a.url) as at_a, httpx.Client(base_url=b.url) as at_b:
        flow = Flow(at_a)  # type: ignore[arg-type]
        code = flow.code()
        used = flow.code()
        assert at_a.post("/token", data=exchange_form(flow, used)).status_code == 200
        tokens = at_a.post("/token", data=exchange_form(flow, flow.code())).json()
        rotated = at_a.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        )
        assert rotated.status_code == 200
        a.kill()
        answer = at_b.post("/token", data=exchange_form(flow, code))
        assert answer.status_code == 200, answer.text
        assert at_b.post("/token", data=exchange_form(flow, used)).json()["error"] == "invalid_grant"
        replay = at_b.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        )
        assert replay.json()["error"] == "invalid_grant"  # A's rotation survived the kill
        assert api(at_b, rotated.json()["access_token"]).status_code == 401  # type: ignore[arg-type]
        at_b.cookies = at_a.cookies
        again = Flow(at_b).authorize(Flow(at_b).code_params())  # type: ignore[arg-type]
        assert again.status_code == 302 and "code=" in again.headers["location"]


def test_instances_starting_together_on_a_new_database_make_one_signing_key(start: Start) -> None:
    """Two instances on an empty database at the same moment end with one key set (one key of each kind), so
    each verifies what the other signs."""
    instances = [start(wait=False) for _ in range(2)]
    threads = [threading.Thread(target=instance.wait_ready) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    key_sets = [httpx.get(instance.url + "/jwks").json()["keys"] for instance in instances]
    assert sorted(key["alg"] for key in key_sets[0]) == ["ES256", "RS256"] and key_sets[0] == key_sets[1]


def workers_of(instance: Instance) -> set[int]:
    """The processes the instance's supervisor started."""
    listed = subprocess.run(["pgrep", "-P", str(instance.process.pid)], capture_output=True, text=True, check=False)
    return {int(pid) for pid in listed.stdout.split()}


def test_workers_share_one_port_and_one_database(start: Start, tmp_path: Path, database: str | None) -> None:
    """--workers 2: connections spread over two processes, and flows work whatever process answers."""
    seeded(tmp_path, database)
    instance = start(workers=2)
    with httpx.Client(base_url=instance.url) as browser:
        for _ in range(6):
            flow = Flow(browser)  # type: ignore[arg-type]
            tokens = flow.exchange(flow.code()).json()
            assert api(browser, tokens["access_token"]).status_code == 200  # type: ignore[arg-type]
    assert len(workers_of(instance)) == 2
    # Each new connection (a new client) may land on either worker: all of them get their flow through.
    for _ in range(8):
        with httpx.Client(base_url=instance.url) as fresh:
            flow = Flow(fresh)  # type: ignore[arg-type]
            assert flow.exchange(flow.code()).status_code == 200
    # SIGTERM to the supervisor alone stops the workers and exits 0, well within the shutdown grace.
    workers = workers_of(instance)
    started = time.monotonic()
    instance.process.send_signal(signal.SIGTERM)
    assert instance.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_a_worker_that_dies_is_replaced(start: Start, tmp_path: Path, database: str | None) -> None:
    """A worker killed outright is replaced within a couple of seconds; the others never stop serving."""
    seeded(tmp_path, database)
    instance = start(workers=2)
    first = workers_of(instance)
    assert len(first) == 2
    killed = min(first)
    os.kill(killed, signal.SIGKILL)
    seen: list[set[int]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = workers_of(instance)
        seen.append(now)
        if len(now) == 2 and killed not in now:
            break
        time.sleep(0.2)
    assert len(seen[-1]) == 2 and killed not in seen[-1], (first, seen[-5:], instance.log.read_text())
    assert first - {killed} <= seen[-1]  # the survivor went on
    instance.wait_ready()
