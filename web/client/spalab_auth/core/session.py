"""Tokens held in memory (C7) and their expiry; nothing here ever prints a token."""

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

MASK_KEEP = 6
# Refresh a little early so a token never expires between check and use.
DEFAULT_SKEW_SECONDS = 30


def masked(value: "str | None", keep: int = MASK_KEEP) -> str:
    """First ``keep`` characters and an ellipsis: enough to correlate, too little to use."""
    if value is None:
        return "None"
    if len(value) <= keep:
        return "…"
    return value[:keep] + "…"


class TokenSet:
    """Access token, optional refresh and ID tokens, scopes and absolute expiry."""

    __slots__ = (
        "access_token",
        "token_type",
        "expires_at",
        "scopes",
        "refresh_token",
        "id_token",
        "id_token_claims",
        "issued_at",
        "checks",
    )

    def __init__(
        self,
        access_token: str,
        token_type: str,
        issued_at: float,
        expires_at: "float | None" = None,
        scopes: "list[str] | None" = None,
        refresh_token: "str | None" = None,
        id_token: "str | None" = None,
        id_token_claims: "dict[str, Any] | None" = None,
        checks: "list[tuple[str, str]] | None" = None,
    ) -> None:
        self.access_token = access_token
        self.token_type = token_type
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.scopes = list(scopes) if scopes else []
        self.refresh_token = refresh_token
        self.id_token = id_token
        self.id_token_claims = id_token_claims
        self.checks = list(checks) if checks else []

    def is_expired(self, now: float, skew: float = DEFAULT_SKEW_SECONDS) -> bool:
        """True once ``now`` is within ``skew`` seconds of expiry; unknown expiry never expires."""
        if self.expires_at is None:
            return False
        return now >= self.expires_at - skew

    def expires_in(self, now: float) -> "int | None":
        """Whole seconds left (never negative), or None when the provider gave no lifetime."""
        if self.expires_at is None:
            return None
        return max(0, int(self.expires_at - now))

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def subject(self) -> "str | None":
        claims = self.id_token_claims
        return claims.get("sub") if claims else None

    def __repr__(self) -> str:
        return "TokenSet(access_token=%s, token_type=%r, expires_at=%r, scopes=%r, refresh_token=%s, id_token=%s)" % (
            masked(self.access_token),
            self.token_type,
            self.expires_at,
            self.scopes,
            masked(self.refresh_token),
            masked(self.id_token),
        )


def split_scope(scope: "str | None") -> "list[str]":
    """RFC 6749 §3.3: scope is a space-delimited list."""
    if not scope:
        return []
    return [item for item in scope.split(" ") if item]
