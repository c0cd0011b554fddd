"""Popup sign-in's window plumbing (web/client/spalab_auth/popup.js, docs/SECURITY.md C17) under Node,
through web/tests/popup/run.mjs, with the windows scripted: what a browser test cannot stage on demand
(a blocked second window, a click while the first sign-in is still building its URL) or only slowly. The
browsers run it for real in e2e/test_package.py and e2e/test_journeys.py."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

RUNNER = Path(__file__).resolve().parent / "popup" / "run.mjs"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node runs popup.js")


def run(scenario: str) -> Any:
    done = subprocess.run(["node", str(RUNNER)], input=scenario, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_sign_in_superseded_before_it_was_sent_out_leaves_the_window_to_the_newer_one() -> None:
    """A double click: the first sign-in is still building its URL when the second takes the window over.
    The first must not send that window to its own request (one of the two navigations would be lost)."""
    result = run("superseded-before-navigate")
    assert result["sameWindow"] and result["opened"] == 1
    assert result["sentTo"] == ["https://idp.example/authorize?state=second"]
    assert (result["first"], result["second"]) == ("superseded", "pending")


def test_a_blocked_second_window_leaves_the_pending_sign_in_alone() -> None:
    result = run("second-blocked")
    assert result["secondBlocked"]
    assert result["first"] == "answer https://app.example/cb?code=c&state=first"


def test_the_newer_sign_in_takes_the_answer_of_the_one_it_took_over_and_no_other() -> None:
    """A popup cut off by COOP, a second click (a new window: the first is out of reach by name), and the
    visitor finishes in the first: that answer carries a state this page issued, and signs in. A state
    this page never issued is still ignored (C17)."""
    result = run("handed-over")
    assert result["opened"] == 2 and result["first"] == "superseded"
    assert result["afterForged"] == "pending"
    assert result["second"] == "answer https://app.example/cb?code=c&state=first"


def test_closing_a_sign_in_that_still_waits_stops_its_listening() -> None:
    """sign_in's clean-up after a failure past navigate: no listener left behind, a late answer unheard."""
    result = run("closed-while-waiting")
    assert result == {"first": "closed", "listeners": 0}


def test_a_popup_closed_after_a_provider_page_showed_is_closed_and_one_cut_off_before_is_awaited() -> None:
    """Closed once a provider page was seen in it (of another origin, or of the app's own): the visitor
    closed it, reported within about a second. Reading closed before any: the provider cut it off (COOP),
    and its answer may still come over the channel."""
    result = run("closed-or-cut-off")
    assert result == {"seen": "closed", "sameOrigin": "closed", "cut": "pending"}
