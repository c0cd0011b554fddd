"""The end-session endpoint's decisions (OpenID Connect RP-Initiated Logout 1.0), value in, value out.

The shell checks the id_token_hint's signature (keys.py) and hands over its claims, or None when
the signature does not verify; the core decides whether the user must confirm and where to go.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .errors import PageError
from .records import Client


@dataclass(frozen=True)
class SessionUser:
    """Who is signed in at the provider, and since when (the session's auth_time)."""

    username: str
    auth_time: int


@dataclass(frozen=True)
class HintSubject:
    """A valid id_token_hint: the client it was issued to and whom it names."""

    client: Client
    sub: str
    auth_time: int | None


@dataclass(frozen=True)
class EndSession:
    """The decision: sign out at once or only after the user confirms; then a validated
    post_logout_redirect_uri to return to (None: the provider shows a "signed out" page)."""

    confirm: bool
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None

    @property
    def redirect_url(self) -> str | None:
        uri = self.post_logout_redirect_uri
        if uri is None or self.state is None:
            return uri
        # RP-Initiated Logout §3: state goes back in the query, next to the registered URI's own query.
        return f"{uri}{'&' if '?' in uri else '?'}{urlencode({'state': self.state})}"


def validate_end_session_request(
    params: dict[str, str],
    hint_claims: dict[str, Any] | None,
    issuer: str,
    clients: dict[str, Client],
    session: SessionUser | None,
) -> EndSession:
    """RP-Initiated Logout §2-§4. `hint_claims` are the signature-checked claims of id_token_hint
    (None when absent or when its signature did not verify)."""
    sent_hint = "id_token_hint" in params
    hint = check_id_token_hint(hint_claims, issuer, clients) if sent_hint else None
    client = known_client(params.get("client_id"), hint, clients)
    uri = params.get("post_logout_redirect_uri")
    # RP-Initiated Logout §4: when a validation fails (here the hint), no redirection is performed.
    if sent_hint and hint is None:
        uri = None
    redirect = check_post_logout_redirect_uri(uri, client)
    # RP-Initiated Logout §2: the OP MUST ask unless the hint belongs to the current session's user.
    confirm = session is not None and not belongs_to_session(hint, session)
    return EndSession(confirm, client, redirect, params.get("state") if redirect else None)


def check_id_token_hint(claims: dict[str, Any] | None, issuer: str, clients: dict[str, Client]) -> HintSubject | None:
    """A signature-checked id_token this provider issued to a registered client, or None.
    RP-Initiated Logout §2: an expired one is accepted; its exp is not checked."""
    # docs/SECURITY.md P25: a hint whose signature did not verify names nobody.
    if claims is None:
        return None
    # RP-Initiated Logout §2: the OP MUST validate that it was the issuer of the ID Token.
    if claims.get("iss") != issuer:
        return None
    aud = claims.get("aud")
    audience = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
    # OIDC Core §2: aud names the client; a token for anyone else (e.g. the API) is no id_token of a client.
    client = clients.get(audience) if isinstance(audience, str) else None
    sub, auth_time = claims.get("sub"), claims.get("auth_time")
    if client is None or not isinstance(sub, str) or not sub:
        return None
    return HintSubject(client, sub, auth_time if type(auth_time) is int else None)


def known_client(client_id: str | None, hint: HintSubject | None, clients: dict[str, Client]) -> Client | None:
    """The client asking, from client_id and/or the hint's aud."""
    if client_id is None:
        return hint.client if hint else None
    client = clients.get(client_id)
    if client is None:
        raise PageError("Unknown application", "The client_id in this sign-out link is not registered.")
    # RP-Initiated Logout §2: with both, client_id MUST match the client the ID Token was issued to.
    if hint is not None and hint.client.client_id != client_id:
        raise PageError("Mismatched application", "The client_id does not match the id_token_hint of this sign-out.")
    return client


def check_post_logout_redirect_uri(uri: str | None, client: Client | None) -> str | None:
    """RP-Initiated Logout §3: exact match against the client's registered post_logout_redirect_uris."""
    if uri is None:
        return None
    # RP-Initiated Logout §3: without a known client there is no registered list, so no redirect.
    if client is None:
        raise PageError(
            "Unknown application", "A return address needs an id_token_hint or client_id to be checked against."
        )
    # RP-Initiated Logout §3 / docs/SECURITY.md P25: exact string match, no open redirect.
    if uri not in client.post_logout_redirect_uris:
        raise PageError(
            "Return address not registered",
            "The post_logout_redirect_uri does not exactly match any address registered for this application.",
        )
    return uri


def belongs_to_session(hint: HintSubject | None, session: SessionUser) -> bool:
    """RP-Initiated Logout §2: the hint names the signed-in user, from this very sign-in (auth_time)."""
    if hint is None:
        return False
    # A hint for another user, or from an earlier sign-in, is stale: the user is asked.
    return hint.sub == session.username and hint.auth_time == session.auth_time
