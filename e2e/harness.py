"""The e2e harness outside pytest's fixtures: free ports, the demo servers started
through the README's CLI, and the Debian browsers' launch options.

A module with a name of its own, because `from conftest import ...` would name
whichever conftest loaded first when server/, web/ and e2e tests run together."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine has no network beyond loopback: no background connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[str], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


@dataclass
class Demo:
    spa: str
    issuer: str
    process: subprocess.Popen[str]

    def requests_seen(self, server: str) -> list[dict[str, Any]]:
        """The request log of 'spa-host' or 'provider'."""
        base = self.spa if server == "spa-host" else self.issuer
        with urllib.request.urlopen(f"{base}/_spalab/requests") as response:
            return list(json.load(response)["entries"])


def start_demo(data_dir: Path, *extra: str, config: str | None = None) -> Demo:
    """`spalab serve` on free ports; `config`: a provider config's text to use instead of the
    built-in demo's, with @ISSUER@ and @SPA_ORIGIN@ filled in here."""
    spa_port, provider_port = free_port(), free_port()
    if config is not None:
        path = data_dir / "provider.toml"
        issuer, spa = f"http://127.0.0.1:{provider_port}", f"http://localhost:{spa_port}"
        path.write_text(config.replace("@ISSUER@", issuer).replace("@SPA_ORIGIN@", spa))
        extra = (*extra, "--config", str(path))
    # A file, not a pipe: a pipe nobody reads fills up and freezes the server mid-run.
    log = data_dir / "server.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spalab",
            "serve",
            "--spa-port",
            str(spa_port),
            "--provider-port",
            str(provider_port),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    demo = Demo(f"http://localhost:{spa_port}", f"http://127.0.0.1:{provider_port}", process)
    wait_until_up(demo.issuer + "/.well-known/openid-configuration", process, log)
    wait_until_up(demo.spa + "/", process, log)
    return demo
