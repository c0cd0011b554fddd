"""The token endpoint (RFC 6749 §4.1.3, §5, §6) for a public client: the code
exchange with PKCE, refresh with rotation, and the response checks."""

from .config import ClientConfig
from .discovery import ProviderMetadata, check_code_flow_support
from .encoding import build_query, parse_json_object
from .errors import (
    ConfigurationError,
    DiscoveryError,
    InvalidTokenResponse,
    IssuerMismatch,
    TokenEndpointError,
)
from .id_token import check_refreshed_id_token, validate_id_token
from .jwt import is_finite_number
from .messages import HttpRequest, HttpResponse, form_post
from .pkce import validate_code_verifier
from .session import TokenSet, split_scope
from .transaction import Transaction

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    from .jwks import Verifier
except ImportError:
    pass


def build_code_exchange_request(
    metadata: ProviderMetadata, client: ClientConfig, transaction: Transaction, code: str
) -> HttpRequest:
    """POST the code with its PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
    check_code_flow_support(metadata)
    # RFC 9207 §2.4 / RFC 9700 §4.4: send the code only to the issuer the transaction began with
    if transaction.issuer != metadata.issuer:
        raise IssuerMismatch("transaction issuer differs", reason="transaction_issuer", parameter="issuer")
    # RFC 6749 §4.1.3: client_id and redirect_uri must match the authorization request
    if transaction.client_id != client.client_id or transaction.redirect_uri != client.redirect_uri:
        raise ConfigurationError("transaction client differs", reason="transaction_client", parameter="client_id")
    # RFC 7636 §4.5: the code exchange carries the verifier (C3)
    if not transaction.is_code_flow or not transaction.code_verifier:
        raise ConfigurationError("no code_verifier", reason="missing_code_verifier", parameter="code_verifier")
    validate_code_verifier(transaction.code_verifier)
    if not isinstance(code, str) or not code:
        raise ConfigurationError("no code", reason="missing_code", parameter="code")
    body = build_query(
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", transaction.redirect_uri),
            # RFC 6749 §4.1.3: a public client identifies itself with client_id, no secret
            ("client_id", client.client_id),
            ("code_verifier", transaction.code_verifier),
        ]
    )
    return form_post(token_endpoint(metadata), body)


def build_refresh_request(
    metadata: ProviderMetadata, client: ClientConfig, refresh_token: str, scope: "str | None" = None
) -> HttpRequest:
    """POST a refresh token (RFC 6749 §6); the answer rotates it (RFC 9700 §4.14.2)."""
    if not isinstance(refresh_token, str) or not refresh_token:
        raise ConfigurationError("no refresh_token", reason="missing_refresh_token", parameter="refresh_token")
    pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client.client_id),
    ]
    if scope:
        pairs.append(("scope", scope))
    return form_post(token_endpoint(metadata), build_query(pairs))


def token_endpoint(metadata: ProviderMetadata) -> str:
    # RFC 8414 §2: the code and refresh grants need the provider's token endpoint
    if not metadata.token_endpoint:
        raise DiscoveryError("no token_endpoint", reason="missing_endpoint", parameter="token_endpoint")
    return metadata.token_endpoint


def parse_token_response(
    response: HttpResponse,
    metadata: ProviderMetadata,
    client: ClientConfig,
    now: float,
    transaction: "Transaction | None" = None,
    jwks: "dict[str, Any] | None" = None,
    verify: "Verifier | None" = None,
    dpop: bool = False,
    access_token_hash: "str | None" = None,
) -> TokenSet:
    """Validate a code-exchange response (RFC 6749 §5.1, OIDC Core §3.1.3.3); ``dpop``: the
    request carried a DPoP proof, so the token must come back bound (token_type DPoP).
    ``access_token_hash``: the at_hash of the access token from a token worker that holds it
    (the response then carries a stand-in for the token)."""
    checks = []  # type: list[tuple[str, str]]
    data = read_token_response(response, checks, dpop)
    claims = None
    if data.get("id_token") is not None:
        claims = validate_id_token(
            data["id_token"],
            metadata,
            client,
            now,
            checks,
            nonce=transaction.nonce if transaction else None,
            jwks=jwks,
            verify=verify,
            access_token=data["access_token"],
            access_token_hash=access_token_hash,
            signed_in_since=transaction.signed_in_since if transaction else None,
        )
    requested = transaction.scope if transaction else None
    return _token_set(data, now, split_scope(data.get("scope") or requested), data.get("refresh_token"), claims, checks)


def parse_refresh_response(
    response: HttpResponse,
    metadata: ProviderMetadata,
    client: ClientConfig,
    previous: TokenSet,
    now: float,
    jwks: "dict[str, Any] | None" = None,
    verify: "Verifier | None" = None,
    dpop: bool = False,
) -> TokenSet:
    """Validate a refresh response; the new refresh token replaces the old one."""
    checks = []  # type: list[tuple[str, str]]
    data = read_token_response(response, checks, dpop)
    claims = previous.id_token_claims
    id_token = previous.id_token
    if data.get("id_token") is not None:
        id_token = data["id_token"]
        claims = validate_id_token(id_token, metadata, client, now, checks, jwks=jwks, verify=verify)
        check_refreshed_id_token(claims, previous.id_token_claims)
    # RFC 9700 §4.14.2: a rotated refresh token replaces the old one, which is now spent
    refresh_token = data.get("refresh_token") or previous.refresh_token
    checks.append(("refresh_token", "rotated" if data.get("refresh_token") else "kept"))
    # RFC 6749 §5.1: an omitted scope means the scope is unchanged
    scopes = split_scope(data["scope"]) if data.get("scope") else previous.scopes
    token_set = _token_set(data, now, scopes, refresh_token, claims, checks)
    token_set.id_token = id_token
    return token_set


def read_token_response(
    response: HttpResponse, checks: "list[tuple[str, str]]", dpop: bool = False
) -> "dict[str, Any]":
    """The guards every token response passes; returns the JSON object."""
    # RFC 6749 §5.2: an error response is 400 (or 401) with a JSON error object
    if response.status != 200:
        raise token_endpoint_error(response, checks)
    data = parse_json_object(response.body, InvalidTokenResponse)
    # RFC 6749 §5.1: access_token is required
    _require_string(data, "access_token", checks)
    # RFC 6749 §5.1 / §7.1: token_type is required; compared case-insensitively
    _require_string(data, "token_type", checks)
    token_type = data["token_type"].lower()
    if dpop:
        # RFC 9449 §5: a proof was sent, so the token must be bound to its key (docs/SECURITY.md C11):
        # a Bearer answer would leave the app holding a token anyone who copies it can use
        if token_type != "dpop":
            raise _invalid("token_not_bound", "token_type", checks)
        checks.append(("token_type_dpop", "ok"))
    elif token_type != "bearer":
        raise _invalid("unsupported_token_type", "token_type", checks)
    # RFC 6749 §5.1: expires_in is a lifetime in seconds; RFC 8259 §6: JSON has no infinite number, though
    # json reads 1e400 as one (and sign_out then failed before it revoked anything: an attacker's review)
    expires_in = data.get("expires_in", 0)
    if not (is_finite_number(expires_in) and expires_in >= 0):
        raise _invalid("invalid_expires_in", "expires_in", checks)
    for name in ("refresh_token", "scope", "id_token"):
        # RFC 6749 §5.1: optional members are strings when present
        if data.get(name) is not None and not isinstance(data[name], str):
            raise _invalid("malformed_parameter", name, checks)
    checks.append(("token_response", "ok"))
    return data


def _require_string(data: "dict[str, Any]", name: str, checks: "list[tuple[str, str]]") -> None:
    if not isinstance(data.get(name), str) or not data[name]:
        raise _invalid("missing_" + name, name, checks)


def _invalid(reason: str, parameter: str, checks: "list[tuple[str, str]]") -> InvalidTokenResponse:
    failed = checks + [("token_response", "failed")]
    return InvalidTokenResponse(reason.replace("_", " "), reason=reason, parameter=parameter, checks=failed)


def token_endpoint_error(response: HttpResponse, checks: "list[tuple[str, str]]") -> TokenEndpointError:
    """TokenEndpointError carrying the OAuth ``error`` code when the body has one (RFC 6749 §5.2)."""
    failed = checks + [("token_response", "failed")]
    try:
        data = parse_json_object(response.body, InvalidTokenResponse)
    except InvalidTokenResponse:
        data = {}
    error = data.get("error") if isinstance(data.get("error"), str) else None
    description = data.get("error_description") if isinstance(data.get("error_description"), str) else None
    reason = "error_response" if error else "http_status"
    return TokenEndpointError(
        "token endpoint error",
        error=error,
        error_description=description,
        status=response.status,
        reason=reason,
        parameter="error",
        checks=failed,
    )


def _token_set(
    data: "dict[str, Any]",
    now: float,
    scopes: "list[str]",
    refresh_token: "str | None",
    claims: "dict[str, Any] | None",
    checks: "list[tuple[str, str]]",
) -> TokenSet:
    expires_at = now + data["expires_in"] if "expires_in" in data else None
    return TokenSet(
        data["access_token"],
        "DPoP" if data["token_type"].lower() == "dpop" else "Bearer",
        now,
        expires_at,
        scopes,
        refresh_token,
        data.get("id_token"),
        claims,
        checks,
    )
