"""What the servers saw: the demo's request logs, read to show on the timeline which
requests reached the provider and the app's host during a sign-in.

Demo only (not part of the OAuth flow): an unreachable log shows as "request log
unavailable" and never stops a sign-in.
"""

import json

from spalab_auth import browser

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    Step = dict[str, Any]
    Entry = dict[str, Any]
except ImportError:
    pass

LATEST = "9007199254740991"  # beyond any request-log entry number (2**53 - 1)


class RequestLogs:
    """Each server's log URL (settings "request_logs"); where each log stood when the sign-in
    started ("marks", in sessionStorage so it survives the redirect); the timeline steps
    waiting for their entries."""

    def __init__(self, urls: "dict[str, str]", storage: browser.Storage) -> None:
        self.urls = urls
        self.storage = storage
        self.pending = []  # type: list[tuple[Step, tuple[str, ...]]]

    async def mark(self) -> None:
        """Where each server's log stands now: the timeline later shows what came after.
        Asking for entries after an unreachable number returns none, only "last_seq"."""
        marks = {}
        for server, url in self.urls.items():
            data = await browser.get_json(url + "?since=" + LATEST)
            marks[server] = data.get("last_seq", 0) if isinstance(data, dict) else 0
        self.storage.set("marks", json.dumps(marks))

    def expect(self, step: "Step", paths: "tuple[str, ...]") -> None:
        """`step` will list the requests to `paths`, once load() has read the logs."""
        self.pending.append((step, paths))

    async def load(self) -> bool:
        """Reads each server's log once and fills the pending steps (in order, each with the
        requests to its paths not shown before). Returns whether anything was pending."""
        if not self.pending:
            return False
        pending, self.pending = self.pending, []
        marks = json.loads(self.storage.get("marks") or "{}")
        logs = await self._read(marks)
        for step, paths in pending:
            _fill(step, paths, logs, marks)
        self.storage.set("marks", json.dumps(marks))
        return True

    async def _read(self, marks: "dict[str, int]") -> "dict[str, list[Entry] | None]":
        logs = {}  # type: dict[str, list[Entry] | None]
        for server, url in self.urls.items():
            data = await browser.get_json(url + "?since=" + str(marks.get(server, 0)))
            logs[server] = data.get("entries", []) if isinstance(data, dict) else None
        return logs


def _fill(
    step: "Step", paths: "tuple[str, ...]", logs: "dict[str, list[Entry] | None]", marks: "dict[str, int]"
) -> None:
    seen = []
    for server, entries in logs.items():
        if entries is None:
            step["servers"].append({"server": server, "text": "request log unavailable"})
            continue
        for entry in entries:
            if entry.get("seq", 0) > marks.get(server, 0) and entry.get("path") in paths:
                seen.append((entry.get("time", 0), server, describe_entry(entry)))
                marks[server] = entry["seq"]
    for _, server, text in sorted(seen):
        step["servers"].append({"server": server, "text": text})


def describe_entry(entry: "Entry") -> str:
    text = str(entry.get("method")) + " " + str(entry.get("path"))
    if entry.get("query"):
        text += " ?" + "&".join(p["name"] + "=" + p["value"] for p in entry["query"])
    if entry.get("form"):
        text += " body: " + ", ".join(p["name"] + "=" + p["value"] for p in entry["form"])
    if entry.get("origin"):
        text += " — Origin: " + str(entry["origin"])
    text += " — Referer: " + str(entry.get("referer") or "(none)")
    return text + " → " + str(entry.get("status"))
