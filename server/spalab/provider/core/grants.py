"""The token endpoint's protocol core: checks for each grant, no I/O, no clock.

The shell looks records up, calls these guards, and only then consumes the
code or refresh token atomically.
"""

from dataclasses import dataclass

from . import pkce
from .errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from .records import Client, CodeRecord, Grant

GRANT_TYPES = ("authorization_code", "refresh_token")


def validate_grant_type(form: dict[str, str]) -> str:
    grant_type = form.get("grant_type")
    # RFC 6749 §4.1.3: grant_type is required.
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType("grant_type must be authorization_code or refresh_token")
    return grant_type


@dataclass(frozen=True)
class RevokeGrant:
    """A replay: the shell revokes the whole grant, then answers with `error`."""

    grant_id: str
    error: InvalidGrant


def code_replay(record: CodeRecord | None, already_consumed: bool) -> RevokeGrant | None:
    """Called when the code is looked up (`already_consumed` from the store) and again when the
    shell tries to consume it (`already_consumed` = it lost the consume race to another request)."""
    # RFC 6749 §4.1.2 / docs/SECURITY.md P8: a code used twice is refused and what it issued is revoked;
    # losing a race with a concurrent redemption is a replay too.
    if record is None or not already_consumed:
        return None
    return RevokeGrant(record.grant_id, InvalidGrant("the authorization code was already used"))


def refresh_replay(grant: Grant | None, already_used: bool) -> RevokeGrant | None:
    """As code_replay, for a refresh token: at look-up, and when the shell marks it used."""
    # RFC 9700 §4.14.2 / docs/SECURITY.md P12: reuse of a rotated refresh token revokes the whole family.
    if grant is None or not already_used:
        return None
    return RevokeGrant(grant.grant_id, InvalidGrant("the refresh token was already used; the session is revoked"))


def validate_code_exchange(form: dict[str, str], client: Client, record: CodeRecord | None, now: int) -> None:
    # RFC 6749 §4.1.3: code is required.
    if "code" not in form:
        raise InvalidRequest("code is required")
    if record is None:
        raise InvalidGrant("unknown authorization code")
    # RFC 6749 §4.1.2 and docs/SECURITY.md P9: codes are short-lived.
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
    granted = allowed_scopes(grant.scope.split(), client)
    requested = form.get("scope")
    if requested is None:
        return granted
    # RFC 6749 §6: a refresh may narrow the scope, never widen it.
    wanted = tuple(dict.fromkeys(requested.split(" ")))
    if not set(wanted) <= set(granted) or "" in wanted:
        raise InvalidScope("a refresh may not add scopes")
    return wanted


def allowed_scopes(granted: list[str], client: Client) -> tuple[str, ...]:
    """docs/SECURITY.md P39: of a grant's scopes, those the client may still have: a scope taken from the
    client in the config is no longer issued on its older grants. None left: invalid_scope."""
    allowed = tuple(scope for scope in granted if scope in client.scopes)
    if not allowed:
        raise InvalidScope("none of the granted scopes is allowed to this client any more")
    return allowed


def check_introspection_caller(caller: Client) -> None:
    # RFC 7662 §2.1: the caller must be authorized; here, confidential clients only (docs/SECURITY.md P26).
    if not caller.is_confidential:
        raise InvalidClient("introspection is for confidential clients")


def refresh_token_active(grant: Grant | None, used: bool, expires_at: int, now: int) -> bool:
    """RFC 7662 §2.2: a refresh token is active while its grant stands, it is unused and unexpired."""
    return grant is not None and grant.revoked_at is None and not used and expires_at > now


def may_introspect(caller: Client, token_client_id: str) -> bool:
    """RFC 7662 §4: the server decides who may learn about a token. Here a client learns only about
    tokens issued to itself; about any other token it is told `active: false` (docs/SECURITY.md P26)."""
    return caller.client_id == token_client_id
