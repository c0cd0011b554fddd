"""Token expiry tracking and masking (C7, STYLE §9)."""

from client_support import NOW

from spalab_auth.core.session import TokenSet, masked, split_scope

ACCESS = "eyJhbGciOiJSUzI1NiJ9.secret-access-token-value"
REFRESH = "refresh-token-secret-value"


def make(expires_at: "float | None" = NOW + 300) -> TokenSet:
    return TokenSet(
        ACCESS, "Bearer", NOW, expires_at, ["openid", "api.read"], REFRESH, "id.token.value", {"sub": "alice"}
    )


def test_expiry_with_skew() -> None:
    """RFC 6749 §5.1: expires_in counts from the response; refresh a little early."""
    tokens = make()
    assert not tokens.is_expired(NOW + 269)
    assert tokens.is_expired(NOW + 270)
    assert not tokens.is_expired(NOW + 299, skew=0)
    assert tokens.is_expired(NOW + 300, skew=0)
    assert tokens.expires_in(NOW + 100) == 200 and tokens.expires_in(NOW + 999) == 0


def test_unknown_lifetime_never_expires_by_clock() -> None:
    """RFC 6749 §5.1: expires_in is optional; without it only the API can say no."""
    tokens = make(None)
    assert not tokens.is_expired(NOW + 10**6) and tokens.expires_in(NOW) is None


def test_scopes_and_subject() -> None:
    """RFC 6749 §3.3: scope is a space-delimited list."""
    tokens = make()
    assert tokens.has_scope("api.read") and not tokens.has_scope("api")
    assert tokens.subject == "alice"
    assert split_scope(" openid  profile ") == ["openid", "profile"] and split_scope(None) == []


def test_repr_never_shows_token_values() -> None:
    """STYLE §9 / C7: tokens appear only truncated."""
    text = repr(make())
    for secret in (ACCESS, REFRESH, "id.token.value"):
        assert secret not in text
    assert "eyJhbG…" in text and str(make()) == text


def test_masked_shows_a_prefix_only() -> None:
    """STYLE §9: enough to correlate, too little to use."""
    assert masked("abcdefghijkl") == "abcdef…"
    assert masked("abc") == "…"
    assert masked(None) == "None"
    assert masked("abcdefghijkl", keep=2) == "ab…"
