"""The flow timeline: each step of a sign-in, in order, with what travelled where.

Plain data (lists and dicts) so it survives the redirect in sessionStorage.
Values of codes and tokens are shortened before they get here, never after.
"""

import json

from spalab_auth.core import OAuthClientError, masked, parse_query
from spalab_auth.core.urls import split_url

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Callable

    Step = dict[str, Any]  # title, status, detail, at, kv, query, fragment, checks, servers
except ImportError:
    pass

SENSITIVE = (
    "code",
    "access_token",
    "id_token",
    "refresh_token",
    "state",
    "nonce",
    "code_verifier",
    "code_challenge",
    "token",
)


def shown(name: str, value: str) -> str:
    return masked(value) if name in SENSITIVE else value


def shown_pairs(text: str) -> "list[list[str]]":
    """A query or fragment as [name, value] pairs, values shortened."""
    return [[name, shown(name, value)] for name, value in parse_query(text)]


def url_parts(url: str) -> "tuple[str, list[list[str]], list[list[str]]]":
    """(base, query pairs, fragment pairs) with values shortened."""
    base, query, fragment = split_url(url)
    return base, shown_pairs(query), shown_pairs(fragment)


class Timeline:
    def __init__(self, steps: "list[Step] | None" = None) -> None:
        self.steps = steps if steps is not None else []

    def add(self, title: str, status: str = "info", detail: str = "", at: float = 0.0) -> "Step":
        step = {
            "title": title,
            "status": status,
            "detail": detail,
            "at": at,
            "kv": [],
            "query": None,
            "fragment": None,
            "checks": [],
            "servers": [],
        }  # type: Step
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


def add_checks(step: "Step", checks: "list[tuple[str, str]]") -> None:
    for name, outcome in checks:
        step["checks"].append([str(name), str(outcome)])
    if any(outcome == "failed" for _, outcome in checks):
        step["status"] = "fail"


class failure_recorded:
    """``with failure_recorded(step, save): ...`` — a client-core error raised inside marks
    `step` failed with the checks the error carries (or `fallback`), calls `save`, and goes
    on up to the one handler in main.py, which shows it."""

    def __init__(
        self, step: "Step", save: "Callable[[], None]", fallback: "list[tuple[str, str]] | None" = None
    ) -> None:
        self.step, self.save, self.fallback = step, save, fallback or []

    def __enter__(self) -> "Step":
        return self.step

    def __exit__(self, kind: "type | None", error: "BaseException | None", traceback: object) -> None:
        if isinstance(error, OAuthClientError):
            add_checks(self.step, error.checks or self.fallback)
            self.step["status"] = "fail"
            self.save()
