"""Token claims: RFC 9068 §2.2 access tokens, OIDC Core §2 id_tokens, §5.4 scope-selected profile claims."""

import pytest

from spalab.provider.core import claims

NOW = 1_800_000_000
USER = {"name": "Alice", "email": "alice@example.test", "email_verified": "true", "phone_number": "+1"}


def test_at_hash_matches_the_oidc_example() -> None:
    """OIDC Core §3.2.2.9: left half of SHA-256 of the token, base64url (OIDC Core Appendix A.3's token)."""
    assert claims.at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y") == "77QmUPtjPfzWtF2AnpK9RQ"


def test_access_token_claims() -> None:
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti and scope."""
    got = claims.access_token_claims("https://idp", "api", "alice", "spa", "openid", NOW, 300, "j1")
    assert got == {
        "iss": "https://idp",
        "sub": "alice",
        "aud": "api",
        "client_id": "spa",
        "scope": "openid",
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "j1",
    }


@pytest.mark.parametrize(
    "nonce, access_token, extra",
    [
        (None, None, {}),
        ("n-1", None, {"nonce": "n-1"}),  # OIDC Core §3.1.2.1: nonce unchanged
        ("n-1", "at", {"nonce": "n-1", "at_hash": claims.at_hash("at")}),  # §3.2.2.10
    ],
)
def test_id_token_claims(nonce: str | None, access_token: str | None, extra: dict[str, str]) -> None:
    """OIDC Core §2: aud and azp name the client; nonce and at_hash only when there is one."""
    got = claims.id_token_claims("https://idp", "alice", "spa", NOW, 60, NOW - 5, nonce, {"name": "A"}, access_token)
    base = {
        "iss": "https://idp",
        "sub": "alice",
        "aud": "spa",
        "azp": "spa",
        "iat": NOW,
        "exp": NOW + 60,
        "auth_time": NOW - 5,
        "name": "A",
    }
    assert got == base | extra


@pytest.mark.parametrize(
    "scopes, released",
    [
        (("openid",), set()),
        (("openid", "profile"), {"name"}),
        (("openid", "email"), {"email", "email_verified"}),
        (("profile", "email", "offline_access"), {"name", "email", "email_verified"}),
    ],
)
def test_profile_claims(scopes: tuple[str, ...], released: set[str]) -> None:
    """OIDC Core §5.4: profile and email release their claims; nothing else is ever released."""
    assert set(claims.profile_claims(scopes, USER)) == released
