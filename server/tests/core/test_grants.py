"""The token endpoint's checks per grant (RFC 6749 §4.1.3, §6; RFC 9700 §4.14; RFC 7662)."""

import dataclasses

import pytest

from spalab.provider.core import grants
from spalab.provider.core.errors import OAuthError
from spalab.provider.core.records import Client, CodeRecord, Grant

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
NOW = 1_800_000_000
SPA = Client("spa", ("http://c/cb",))
OTHER = Client("other", ("http://o/cb",))
NO_REFRESH = Client("spa", ("http://c/cb",), refresh_tokens=False)
SERVER = Client("server", ("https://rp/cb",), client_secret="s")
RECORD = CodeRecord("g1", "spa", "http://c/cb", None, CHALLENGE, "S256", NOW + 60)
GRANT = Grant("g1", "spa", "alice", "openid profile email", NOW - 10, NOW - 10, NOW + 3600, None)
CODE_FORM = {"grant_type": "authorization_code", "code": "c", "redirect_uri": "http://c/cb", "code_verifier": VERIFIER}


@pytest.mark.parametrize(
    "form, error",
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ],
)
def test_grant_type_refused(form: dict[str, str], error: str) -> None:
    """RFC 6749 §4.1.3, §5.2: grant_type is required and only code and refresh are supported."""
    with pytest.raises(OAuthError) as caught:
        grants.validate_grant_type(form)
    assert caught.value.error == error


@pytest.mark.parametrize(
    "form, client, record, error",
    [
        ({k: v for k, v in CODE_FORM.items() if k != "code"}, SPA, RECORD, "invalid_request"),
        (CODE_FORM, SPA, None, "invalid_grant"),  # unknown code
        (CODE_FORM, SPA, dataclasses.replace(RECORD, expires_at=NOW), "invalid_grant"),  # P9: expired at NOW
        (CODE_FORM, OTHER, RECORD, "invalid_grant"),  # issued to another client
        ({k: v for k, v in CODE_FORM.items() if k != "redirect_uri"}, SPA, RECORD, "invalid_request"),
        ({**CODE_FORM, "redirect_uri": "http://c/cb/"}, SPA, RECORD, "invalid_grant"),
        ({**CODE_FORM, "code_verifier": VERIFIER[:-1] + "l"}, SPA, RECORD, "invalid_grant"),  # RFC 7636 §4.6
    ],
)
def test_code_exchange_refused(form: dict[str, str], client: Client, record: CodeRecord | None, error: str) -> None:
    """RFC 6749 §4.1.3: the code must be known, fresh, this client's, with the same redirect_uri and verifier."""
    with pytest.raises(OAuthError) as caught:
        grants.validate_code_exchange(form, client, record, NOW)
    assert caught.value.error == error


def test_code_exchange_accepted() -> None:
    """RFC 6749 §4.1.3: a good exchange passes every check, one second before expiry."""
    grants.validate_code_exchange(CODE_FORM, SPA, dataclasses.replace(RECORD, expires_at=NOW + 1), NOW)


REVOKED = Grant(*list(vars(GRANT).values())[:-1], NOW - 1)
REFRESH_FORM = {"grant_type": "refresh_token", "refresh_token": "r"}


@pytest.mark.parametrize(
    "form, client, grant, expires_at, error",
    [
        ({"grant_type": "refresh_token"}, SPA, GRANT, NOW + 60, "invalid_request"),  # RFC 6749 §6
        (REFRESH_FORM, NO_REFRESH, GRANT, NOW + 60, "unauthorized_client"),
        (REFRESH_FORM, SPA, None, NOW + 60, "invalid_grant"),
        (REFRESH_FORM, SPA, REVOKED, NOW + 60, "invalid_grant"),
        (REFRESH_FORM, OTHER, GRANT, NOW + 60, "invalid_grant"),  # bound to its client
        (REFRESH_FORM, SPA, GRANT, NOW, "invalid_grant"),  # RFC 9700 §4.14.2: absolute expiry
        ({**REFRESH_FORM, "scope": "openid contacts.read"}, SPA, GRANT, NOW + 60, "invalid_scope"),  # widening
        ({**REFRESH_FORM, "scope": "openid  profile"}, SPA, GRANT, NOW + 60, "invalid_scope"),
        ({**REFRESH_FORM, "scope": ""}, SPA, GRANT, NOW + 60, "invalid_scope"),
    ],
)
def test_refresh_refused(
    form: dict[str, str], client: Client, grant: Grant | None, expires_at: int, error: str
) -> None:
    """RFC 6749 §6: the refresh token must be this client's, live, and may narrow the scope only."""
    with pytest.raises(OAuthError) as caught:
        grants.validate_refresh(form, client, grant, expires_at, NOW)
    assert caught.value.error == error


@pytest.mark.parametrize(
    "scope, granted",
    [
        (None, ("openid", "profile", "email")),
        ("openid", ("openid",)),
        ("email openid", ("email", "openid")),
        ("openid openid", ("openid",)),
    ],
)
def test_refresh_scope(scope: str | None, granted: tuple[str, ...]) -> None:
    """RFC 6749 §6: without scope, the grant's scopes; with scope, exactly the (narrower) request."""
    form = REFRESH_FORM | ({"scope": scope} if scope is not None else {})
    assert grants.validate_refresh(form, SPA, GRANT, NOW + 1, NOW) == granted


@pytest.mark.parametrize(
    "record, consumed, revoked",
    [(RECORD, True, "g1"), (RECORD, False, None), (None, True, None), (None, False, None)],
)
def test_code_replay_revokes_the_grant(record: CodeRecord | None, consumed: bool, revoked: str | None) -> None:
    """RFC 6749 §4.1.2 / docs/SECURITY.md P8: a consumed code (or a lost consume race) revokes its grant."""
    decision = grants.code_replay(record, consumed)
    assert (decision.grant_id if decision else None) == revoked
    assert decision is None or decision.error.error == "invalid_grant"


@pytest.mark.parametrize(
    "grant, used, revoked",
    [(GRANT, True, "g1"), (GRANT, False, None), (None, True, None)],
)
def test_refresh_replay_revokes_the_family(grant: Grant | None, used: bool, revoked: str | None) -> None:
    """RFC 9700 §4.14.2 / docs/SECURITY.md P12: a used refresh token presented again revokes the whole family."""
    decision = grants.refresh_replay(grant, used)
    assert (decision.grant_id if decision else None) == revoked
    assert decision is None or decision.error.error == "invalid_grant"


@pytest.mark.parametrize("caller, allowed", [(SERVER, True), (SPA, False)])
def test_introspection_caller(caller: Client, allowed: bool) -> None:
    """RFC 7662 §2.1 / docs/SECURITY.md P26: only confidential clients may introspect (invalid_client otherwise)."""
    try:
        grants.check_introspection_caller(caller)
        refused = None
    except OAuthError as exc:
        refused = exc.error
    assert refused == (None if allowed else "invalid_client")


@pytest.mark.parametrize(
    "caller, token_client, allowed",
    [(SERVER, "server", True), (SERVER, "spa", False)],
)
def test_may_introspect_only_own_tokens(caller: Client, token_client: str, allowed: bool) -> None:
    """RFC 7662 §4 / docs/SECURITY.md P26: a client learns only about tokens issued to itself."""
    assert grants.may_introspect(caller, token_client) is allowed


@pytest.mark.parametrize(
    "grant, used, expires_at, active",
    [
        (GRANT, False, NOW + 1, True),
        (None, False, NOW + 1, False),
        (REVOKED, False, NOW + 1, False),
        (GRANT, True, NOW + 1, False),
        (GRANT, False, NOW, False),
    ],
)
def test_refresh_token_active(grant: Grant | None, used: bool, expires_at: int, active: bool) -> None:
    """RFC 7662 §2.2: active only while granted, unused, unrevoked and unexpired."""
    assert grants.refresh_token_active(grant, used, expires_at, NOW) is active
