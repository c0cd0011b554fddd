"""Failed sign-in throttling without lock-outs (RFC 6749 §10.10; NIST SP 800-63B §5.2.2; docs/SECURITY.md P18, P23)."""

import pytest

from spalab.provider.core import throttle
from spalab.provider.core.throttle import WINDOW, Rule

NOW = 1_800_000_000
RULE = Rule(free=3, base=10, cap=60)


@pytest.mark.parametrize(
    "failures, wait",
    [
        ([], None),
        ([NOW - 1, NOW - 1], None),  # within the free failures
        ([NOW - 1] * 3, 9),  # the first paid wait: base after the latest failure
        ([NOW - 1] * 4, 19),  # doubling
        ([NOW - 1] * 20, 59),  # capped
        ([NOW - 10] * 3, None),  # the wait has passed
        ([NOW - WINDOW] * 10, None),  # failures older than the window are forgotten
        ([NOW - WINDOW + 1] * 2 + [NOW - 1], 9),  # within the window they count
    ],
)
def test_rule_wait(failures: list[int], wait: int | None) -> None:
    """NIST SP 800-63B §5.2.2: free failures, then doubling waits up to a cap, nothing permanent."""
    assert RULE.wait(failures, NOW) == wait


def test_rule_keep_covers_the_cap() -> None:
    """docs/SECURITY.md P28: more rows than `keep` would not change the wait."""
    assert RULE.keep == 3 + 3 + 1  # 10, 20, 40 < 60, then capped
    assert RULE.wait([NOW - 1] * RULE.keep, NOW) == RULE.wait([NOW - 1] * (RULE.keep + 10), NOW)


@pytest.mark.parametrize(
    "username, address, device, expected",
    [
        ("Alice", "192.0.2.1", None, {"pair:alice|192.0.2.1", "addr:192.0.2.1", "user:alice"}),
        ("alice", "2001:db8::1", None, {"pair:alice|2001:db8::/64", "addr:2001:db8::/64", "user:alice"}),
        ("alice", "testclient", None, {"pair:alice|testclient", "addr:testclient", "user:alice"}),
        ("alice", "192.0.2.1", "dev1", {"device:dev1"}),  # a known browser counts on its own only
    ],
)
def test_subjects(username: str, address: str, device: str | None, expected: set[str]) -> None:
    """docs/SECURITY.md P23: pair, address (IPv6 by /64) and account; a device cookie replaces all three."""
    assert set(throttle.subjects(username, address, device)) == expected


def test_success_forgives_only_the_proven_pair_or_device() -> None:
    """docs/SECURITY.md P23: a success clears the pair and device, never the account or address counters."""
    rules = throttle.subjects("alice", "192.0.2.1", None)
    assert throttle.forgiven_on_success(rules) == ["pair:alice|192.0.2.1"]
    assert throttle.forgiven_on_success(throttle.subjects("alice", "192.0.2.1", "d")) == ["device:d"]


def test_decide_takes_the_longest_wait() -> None:
    """docs/SECURITY.md P23: every subject is checked and the longest wait wins."""
    rules = {"a": Rule(1, 10, 60), "b": Rule(1, 30, 60), "c": Rule(5, 10, 60)}
    history = {"a": [NOW - 1], "b": [NOW - 1], "c": [NOW - 1]}
    assert throttle.decide(rules, history, NOW) == 29
    assert throttle.decide(rules, {}, NOW) is None
