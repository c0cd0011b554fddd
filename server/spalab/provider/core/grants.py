"""The token endpoint's protocol core: checks for each grant, no I/O, no clock.

The shell looks records up, calls these guards, and only then consumes the
code or refresh token atomically.
"""

from . import pkce
from ..config import Client
from .errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient, UnsupportedGrantType
from ..store import CodeRecord, Grant

GRANT_TYPES = ("authorization_code", "refresh_token")


def validate_grant_type(form: dict[str, str]) -> str:
    grant_type = form.get("grant_type")
    # RFC 6749 §4.1.3: grant_type is required.
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType("grant_type must be authorization_code or refresh_token")
    return grant_type


def validate_code_exchange(
    form: dict[str, str], client: Client, record: CodeRecord | None, now: int
) -> None:
    # RFC 6749 §4.1.3: code is required.
    if "code" not in form:
        raise InvalidRequest("code is required")
    if record is None:
        raise InvalidGrant("unknown authorization code")
    # RFC 6749 §4.1.2 and SECURITY.md P9: codes are short-lived.
    if record.expires_at <= now:
        raise InvalidGrant("the authorization code has expired")
    # RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    if record.client_id != client.client_id:
        raise InvalidGrant("the authorization code was issued to another client")
    # RFC 6749 §4.1.3: redirect_uri must be present and identical when the request had one.
    if "redirect_uri" not in form:
        raise InvalidRequest("redirect_uri is required")
    if form["redirect_uri"] != record.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    # RFC 7636 §4.6 and RFC 9700 §4.8.2: verifier checked, downgrade refused.
    pkce.verify_code_verifier(record.code_challenge, form.get("code_verifier"))


def validate_refresh(
    form: dict[str, str], client: Client, grant: Grant | None, expires_at: int, now: int
) -> tuple[str, ...]:
    """Returns the scopes of the new access token."""
    # RFC 6749 §6: refresh_token is required.
    if "refresh_token" not in form:
        raise InvalidRequest("refresh_token is required")
    if not client.refresh_tokens:
        raise UnauthorizedClient("this client does not use refresh tokens")
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant("unknown or revoked refresh token")
    # RFC 6749 §6: the refresh token is bound to the client it was issued to.
    if grant.client_id != client.client_id:
        raise InvalidGrant("the refresh token was issued to another client")
    # RFC 9700 §4.14.2: rotation never extends the absolute lifetime.
    if expires_at <= now:
        raise InvalidGrant("the refresh token has expired")
    granted = grant.scope.split()
    requested = form.get("scope")
    if requested is None:
        return tuple(granted)
    # RFC 6749 §6: a refresh may narrow the scope, never widen it.
    wanted = tuple(dict.fromkeys(requested.split(" ")))
    if not set(wanted) <= set(granted) or "" in wanted:
        raise InvalidScope("a refresh may not add scopes")
    return wanted


def may_introspect(caller: Client, token_client_id: str) -> bool:
    """RFC 7662 §4: the server decides who may learn about a token. Here a client learns only about
    tokens issued to itself; about any other token it is told `active: false` (SECURITY.md P26)."""
    return caller.client_id == token_client_id
