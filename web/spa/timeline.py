"""The flow timeline: each step of a sign-in, in order, with what travelled where.

Plain data (lists and dicts) so it survives the redirect in sessionStorage.
Values of codes and tokens are shortened before they get here, never after.
"""

import json

from oauth_client import masked

SENSITIVE = ("code", "access_token", "id_token", "refresh_token", "state", "nonce", "code_verifier",
             "code_challenge", "token")  # fmt: skip


def shown(name: str, value: str) -> str:
    return masked(value) if name in SENSITIVE else value


def url_parts(url: str) -> "tuple[str, list[list[str]], list[list[str]]]":
    """(base, query pairs, fragment pairs) with values shortened."""
    from oauth_client import parse_query

    base, _, fragment = url.partition("#")
    base, _, query = base.partition("?")
    return (
        base,
        [[n, shown(n, v)] for n, v in parse_query(query)],
        [[n, shown(n, v)] for n, v in parse_query(fragment)],
    )


class Timeline:
    def __init__(self, steps: "list[dict] | None" = None) -> None:
        self.steps = steps if steps is not None else []

    def add(self, title: str, status: str = "info", detail: str = "", at: float = 0.0) -> "dict":
        step = {"title": title, "status": status, "detail": detail, "at": at,
                "kv": [], "query": None, "fragment": None, "checks": [], "servers": []}  # fmt: skip
        self.steps.append(step)
        return step

    def clear(self) -> None:
        self.steps = []

    def to_json(self) -> str:
        return json.dumps(self.steps)

    @classmethod
    def from_json(cls, text: "str | None") -> "Timeline":
        if not text:
            return cls()
        try:
            steps = json.loads(text)
        except ValueError:
            return cls()
        return cls(steps if isinstance(steps, list) else [])


def add_checks(step: "dict", checks: "list") -> None:
    for name, outcome in checks:
        step["checks"].append([str(name), str(outcome)])
    if any(outcome == "failed" for _, outcome in checks):
        step["status"] = "fail"


def server_view(entries: "list", since: int, paths: "tuple") -> "list[dict]":
    """The request-log entries worth showing: requests to the given paths since `since`."""
    kept = []
    for entry in entries:
        if entry.get("seq", 0) > since and entry.get("path") in paths:
            kept.append(entry)
    return kept
