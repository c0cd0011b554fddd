"""Failed sign-in throttling per account and per address (SECURITY.md P18).

Pure logic over the timestamps the store keeps, so several provider instances
sharing one database throttle together.
"""

LIMIT = 5
WINDOW = 15 * 60


def subjects(username: str, address: str) -> list[str]:
    return [f"user:{username.lower()}", f"addr:{address}"]


def retry_after(failures: list[int], now: int, limit: int = LIMIT, window: int = WINDOW) -> int | None:
    """Seconds to wait, or None when another attempt is allowed."""
    recent = [t for t in failures if t > now - window]
    if len(recent) < limit:
        return None
    # The oldest failure that still counts must leave the window first.
    return max(1, recent[-limit] + window - now)
