"""Failed sign-in throttling that slows guessing without handing out lock-outs
(docs/SECURITY.md P18, P23). Pure: the store keeps the timestamps and calls `decide`
inside the transaction that records the attempt, so the decision is atomic with
the attempt even across provider instances sharing one database.

RFC 6749 §10.10 asks the server to prevent guessing of resource owner passwords;
NIST SP 800-63B §5.2.2 caps consecutive failures per account and suggests
waiting periods that grow with each failure, and rules keyed on the address, so
that rate limiting does not let an attacker lock the real user out. Hence:

- Every subject follows one `Rule`: its first `free` failures within `WINDOW`
  cost nothing (typos), then each further attempt must wait `base` seconds after
  the latest failure, doubling per failure up to `cap`. Nothing locks for good:
  failures older than `WINDOW` are forgotten.
- A browser with a device cookie for the account (it signed in to it before)
  counts only against its own device subject, never against the address or the
  account (OWASP "device cookies"): strangers' failures cannot keep a known
  browser out, even when every client shares one address (the demo's 127.0.0.1,
  or a proxy).
- Other attempts count against three subjects, and the longest wait wins:
  * the (account, address) pair — few free failures, short doubling delays, a
    5-minute cap: one address guessing one account is slowed hard, and a victim
    elsewhere is not affected at all;
  * the address across accounts — spraying one password over many accounts;
  * the account across addresses — distributed guessing of one account. Its
    budget is six times the pair's, so only an attacker with many addresses
    reaches it, and then only browsers without a device cookie wait.
- IPv6 addresses count by /64, since one host usually owns a whole /64.
"""

import ipaddress
from dataclasses import dataclass

WINDOW = 15 * 60


@dataclass(frozen=True)
class Rule:
    """`free` failures within WINDOW, then a wait of `base` seconds doubling up to `cap`."""

    free: int
    base: int
    cap: int

    def wait(self, failures: list[int], now: int) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        recent = sorted(t for t in failures if t > now - WINDOW)
        if len(recent) < self.free:
            return None
        delay = min(self.cap, self.base * 2 ** min(len(recent) - self.free, 32))
        wait = recent[-1] + delay - now
        return wait if wait > 0 else None

    @property
    def keep(self) -> int:
        """Rows worth keeping per subject: more failures than this change nothing."""
        doublings = 0
        while self.base * 2**doublings < self.cap:
            doublings += 1
        return self.free + doublings + 1


PAIR = Rule(free=5, base=15, cap=5 * 60)
DEVICE = Rule(free=5, base=15, cap=5 * 60)
ADDRESS = Rule(free=20, base=60, cap=WINDOW)
ACCOUNT = Rule(free=30, base=60, cap=WINDOW)


def subjects(username: str, address: str, device: str | None) -> dict[str, Rule]:
    """The subjects an attempt counts against, each with its rule."""
    account = username.lower()
    if device is not None:
        return {f"device:{device}": DEVICE}
    network = _network(address)
    return {f"pair:{account}|{network}": PAIR, f"addr:{network}": ADDRESS, f"user:{account}": ACCOUNT}


def forgiven_on_success(attempt_subjects: dict[str, Rule]) -> list[str]:
    """A success clears the failures of the pair or device that proved itself, not
    the account's or the address's (they may hold an attacker's failures)."""
    return [s for s in attempt_subjects if s.startswith(("pair:", "device:"))]


def decide(rules: dict[str, Rule], history: dict[str, list[int]], now: int) -> int | None:
    """The longest wait over all subjects, or None when the attempt may go ahead."""
    waits = [w for s, rule in rules.items() if (w := rule.wait(history.get(s, []), now)) is not None]
    return max(waits, default=None)


def _network(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    # An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d: count it as that IPv4 address.
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
