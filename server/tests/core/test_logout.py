"""The end-session endpoint's decisions, value in, value out (OpenID Connect RP-Initiated Logout 1.0)."""

from typing import Any

import pytest

from spalab.provider.core.errors import PageError
from spalab.provider.core.logout import EndSession, SessionUser, validate_end_session_request
from spalab.provider.core.records import Client

ISSUER = "https://idp.example"
BACK = "https://rp.example/signed-out"
SPA = Client("spa", ("https://rp.example/cb",), post_logout_redirect_uris=(BACK, "https://rp.example/bye?x=1"))
OTHER = Client("other", ("https://other.example/cb",), post_logout_redirect_uris=("https://other.example/bye",))
CLIENTS = {c.client_id: c for c in (SPA, OTHER)}
ALICE = SessionUser("alice", 1000)
HINT: dict[str, Any] = {"iss": ISSUER, "sub": "alice", "aud": "spa", "auth_time": 1000, "exp": 1, "iat": 0}
SENT = "a.signed.jwt"  # the hint as sent; its checked claims are the test's `claims`


def _decide(
    params: dict[str, str], claims: dict[str, Any] | None = HINT, session: SessionUser | None = ALICE
) -> EndSession:
    return validate_end_session_request(params, claims, ISSUER, CLIENTS, session)


@pytest.mark.parametrize(
    "params, claims, session, confirm, url",
    [
        # §2: a valid hint for this session's user: sign out at once, back to the registered URI with state (§3).
        (
            {"id_token_hint": SENT, "post_logout_redirect_uri": BACK, "state": "s 1"},
            HINT,
            ALICE,
            False,
            BACK + "?state=s+1",
        ),
        # §2: an expired hint is accepted when issuer and signature verify (exp 1 above).
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK}, HINT, ALICE, False, BACK),
        # §3: state is appended to the registered URI's own query.
        (
            {"id_token_hint": SENT, "post_logout_redirect_uri": "https://rp.example/bye?x=1", "state": "z"},
            HINT,
            ALICE,
            False,
            "https://rp.example/bye?x=1&state=z",
        ),
        # §2: client_id alongside a hint must name the hint's client.
        ({"id_token_hint": SENT, "client_id": "spa", "post_logout_redirect_uri": BACK}, HINT, ALICE, False, BACK),
        # §2: aud may be a one-element list.
        ({"id_token_hint": SENT}, {**HINT, "aud": ["spa"]}, ALICE, False, None),
        # §2: no hint: the user is asked; client_id alone lets the registered URI be used afterwards.
        ({"client_id": "spa", "post_logout_redirect_uri": BACK, "state": "s"}, None, ALICE, True, BACK + "?state=s"),
        ({}, None, ALICE, True, None),
        # §2: a hint for another user, or from an earlier sign-in of this user, is stale: asked.
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK}, {**HINT, "sub": "bob"}, ALICE, True, BACK),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK}, {**HINT, "auth_time": 999}, ALICE, True, BACK),
        ({"id_token_hint": SENT}, {k: v for k, v in HINT.items() if k != "auth_time"}, ALICE, True, None),
        # §4: a hint that fails validation: asked, and no redirect at all.
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK, "state": "s"}, None, ALICE, True, None),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK}, {**HINT, "iss": "https://evil"}, ALICE, True, None),
        (
            {"id_token_hint": SENT, "post_logout_redirect_uri": BACK},
            {**HINT, "aud": "https://idp.example/api"},
            ALICE,
            True,
            None,
        ),
        (
            {"id_token_hint": SENT, "post_logout_redirect_uri": BACK},
            {**HINT, "aud": ["spa", "other"]},
            ALICE,
            True,
            None,
        ),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK}, {**HINT, "sub": ""}, ALICE, True, None),
        # Nobody signed in: nothing to confirm, nothing changes; the validated URI is still honoured.
        ({"client_id": "spa", "post_logout_redirect_uri": BACK}, None, None, False, BACK),
        ({"id_token_hint": SENT}, {**HINT, "sub": "bob"}, None, False, None),
    ],
)
def test_end_session_decision(
    params: dict[str, str], claims: dict[str, Any] | None, session: SessionUser | None, confirm: bool, url: str | None
) -> None:
    """RP-Initiated Logout §2-§4: whether the user is asked, and where the browser goes after."""
    decision = _decide(params, claims, session)
    assert (decision.confirm, decision.redirect_url) == (confirm, url)


@pytest.mark.parametrize(
    "params, claims",
    [
        # §3: exact string match only.
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK + "/"}, HINT),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK + "?x=1"}, HINT),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": BACK.upper()}, HINT),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": "https://RP.example/signed-out"}, HINT),
        ({"id_token_hint": SENT, "post_logout_redirect_uri": "https://evil.example/"}, HINT),
        # §3: registered for another client only.
        ({"id_token_hint": SENT, "post_logout_redirect_uri": "https://other.example/bye"}, HINT),
        ({"client_id": "spa", "post_logout_redirect_uri": "https://other.example/bye"}, None),
        # §3: no client known, so no registered list to match against.
        ({"post_logout_redirect_uri": BACK}, None),
        # §2: client_id must match the hint's audience.
        ({"id_token_hint": SENT, "client_id": "other"}, HINT),
        ({"id_token_hint": SENT, "client_id": "other", "post_logout_redirect_uri": "https://other.example/bye"}, HINT),
        # An unknown client_id.
        ({"client_id": "nobody"}, None),
    ],
)
def test_refused_with_a_page(params: dict[str, str], claims: dict[str, Any] | None) -> None:
    """RP-Initiated Logout §3, §4: a failed validation is an error page, never a redirect."""
    with pytest.raises(PageError):
        _decide(params, claims)


def test_state_without_a_redirect_is_dropped() -> None:
    """RP-Initiated Logout §3: state is only for the redirect to the RP."""
    decision = _decide({"id_token_hint": SENT, "state": "s"})
    assert (decision.post_logout_redirect_uri, decision.state, decision.redirect_url) == (None, None, None)


def test_the_client_is_known_from_the_hint() -> None:
    """RP-Initiated Logout §2: the hint's aud identifies the RP when client_id is absent."""
    assert _decide({"id_token_hint": SENT}, {**HINT, "aud": "other", "sub": "bob"}).client == OTHER
