"""ID token validation (OIDC Core §3.1.3.7, §3.2.2.11, §12.2): signature, claims,
nonce and at_hash. Appends ``(name, outcome)`` to the caller's ``checks``."""

from .config import ClientConfig
from .discovery import ProviderMetadata
from .errors import AtHashMismatch, InvalidIdToken, NonceMismatch
from .jwks import verify_signature
from .jwt import (
    ALLOWED_ALGS,
    DEFAULT_LEEWAY_SECONDS,
    Jwt,
    audiences,
    compute_at_hash,
    decode_jwt,
    is_finite_number,
    validate_claims,
)

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    from .jwks import Verifier
except ImportError:
    pass


def validate_id_token(
    id_token: str,
    metadata: ProviderMetadata,
    client: ClientConfig,
    now: float,
    checks: "list[tuple[str, str]]",
    nonce: "str | None" = None,
    jwks: "dict[str, Any] | None" = None,
    verify: "Verifier | None" = None,
    access_token: "str | None" = None,
    require_at_hash: bool = False,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    access_token_hash: "str | None" = None,
    signed_in_since: "float | None" = None,
) -> "dict[str, Any]":
    """Return the claims of a valid ID token, or raise InvalidIdToken (or a subclass).
    ``signed_in_since``: the request asked for a sign-in at or after this time (max_age; prompt=login).

    Without ``jwks``/``verify`` the signature is not checked, which OIDC Core
    §3.1.3.7(6) allows only for an ID token received directly from the token endpoint;
    the implicit flow always passes them. ``access_token_hash``: the access token's at_hash computed
    by whoever holds the token (a token worker), when the caller holds only a stand-in.
    """
    jwt = decode_jwt(id_token, InvalidIdToken)
    _check_signature(jwt, metadata, jwks, verify, checks)
    validate_claims(jwt.claims, metadata.issuer, client.client_id, now, InvalidIdToken, leeway)
    _check_subject_and_azp(jwt.claims, client)
    checks.append(("id_token_claims", "ok"))
    check_nonce(jwt.claims, nonce, checks)
    if access_token is not None:
        check_at_hash(jwt, access_token, require_at_hash, checks, access_token_hash)
    if signed_in_since is not None:
        check_auth_time(jwt.claims, signed_in_since, leeway, checks)
    return jwt.claims


def check_auth_time(claims: "dict[str, Any]", since: float, leeway: float, checks: "list[tuple[str, str]]") -> None:
    """OIDC Core §3.1.2.1, §2: a request with max_age (prompt=login sends max_age=0) needs the id_token's
    auth_time, and a sign-in no older than that: the provider really asked for the password again, rather
    than a visitor taking the same request without its prompt (which the browser's address bar allows)."""
    auth_time = claims.get("auth_time")
    if not is_finite_number(auth_time):
        raise InvalidIdToken(
            "auth_time missing",
            reason="missing_auth_time",
            parameter="auth_time",
            checks=checks + [("auth_time", "failed")],
        )
    if auth_time < since - leeway:  # type: ignore[operator]
        raise InvalidIdToken(
            "the sign-in is older than asked for",
            reason="stale_sign_in",
            parameter="auth_time",
            checks=checks + [("auth_time", "failed")],
        )
    checks.append(("auth_time", "ok"))


def _check_signature(
    jwt: Jwt,
    metadata: ProviderMetadata,
    jwks: "dict[str, Any] | None",
    verify: "Verifier | None",
    checks: "list[tuple[str, str]]",
) -> None:
    # OIDC Core §3.1.3.7(7): alg should be the one the provider uses for ID tokens
    advertised = tuple(metadata.id_token_signing_alg_values_supported) or ("RS256",)
    allowed = tuple(alg for alg in ALLOWED_ALGS if alg in advertised)
    # RFC 8725 §3.1: "none" and HMAC are refused even when the signature is not checked
    if jwt.alg not in allowed:
        raise InvalidIdToken("algorithm not allowed", reason="alg_not_allowed", parameter="alg")
    if jwks is None or verify is None:
        checks.append(("id_token_signature", "skipped"))
        return
    verify_signature(jwt, jwks, verify, allowed, InvalidIdToken)
    checks.append(("id_token_signature", "ok"))


def _check_subject_and_azp(claims: "dict[str, Any]", client: ClientConfig) -> None:
    # OIDC Core §2: sub is required, a non-empty string
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("sub missing", reason="missing_sub", parameter="sub")
    # OIDC Core §3.1.3.7(4): with several audiences, azp must be present
    if len(audiences(claims)) > 1 and "azp" not in claims:
        raise InvalidIdToken("azp missing", reason="missing_azp", parameter="azp")
    # OIDC Core §3.1.3.7(5): azp, when present, must be this client
    if "azp" in claims and claims["azp"] != client.client_id:
        raise InvalidIdToken("azp is another client", reason="azp_mismatch", parameter="azp")


def check_nonce(claims: "dict[str, Any]", nonce: "str | None", checks: "list[tuple[str, str]]") -> None:
    """OIDC Core §3.1.3.7(11) / §3.2.2.11: the nonce sent must come back unchanged (C6)."""
    if nonce is None:
        checks.append(("nonce", "skipped"))
        return
    if "nonce" not in claims:
        raise NonceMismatch(
            "nonce missing", reason="missing_nonce", parameter="nonce", checks=checks + [("nonce", "failed")]
        )
    if claims["nonce"] != nonce:
        raise NonceMismatch(
            "nonce differs", reason="nonce_mismatch", parameter="nonce", checks=checks + [("nonce", "failed")]
        )
    checks.append(("nonce", "ok"))


def check_at_hash(
    jwt: Jwt, access_token: str, required: bool, checks: "list[tuple[str, str]]", computed: "str | None" = None
) -> None:
    """OIDC Core §3.2.2.9-10: at_hash binds the access token to this ID token (C6). ``computed``: the
    hash from whoever holds the token (SHA-256, the hash of every allowed alg), instead of hashing it here."""
    claimed = jwt.claims.get("at_hash")
    failed = checks + [("at_hash", "failed")]
    # OIDC Core §3.2.2.10: at_hash is required when an access token is issued with the id_token
    if claimed is None and required:
        raise AtHashMismatch("at_hash missing", reason="missing_at_hash", parameter="at_hash", checks=failed)
    if claimed is None:
        checks.append(("at_hash", "skipped"))
        return
    if computed is None:
        computed = compute_at_hash(access_token, jwt.alg, AtHashMismatch)
    # OIDC Core §3.2.2.9: a hash computed elsewhere is SHA-256's, right for the allowed algs only
    elif jwt.alg not in ALLOWED_ALGS:
        raise AtHashMismatch("no hash for alg", reason="alg_not_allowed", parameter="alg", checks=failed)
    if claimed != computed:
        raise AtHashMismatch("at_hash differs", reason="at_hash_mismatch", parameter="at_hash", checks=failed)
    checks.append(("at_hash", "ok"))


def check_refreshed_id_token(claims: "dict[str, Any]", previous: "dict[str, Any] | None") -> None:
    """OIDC Core §12.2: a refreshed ID token names the same issuer and subject."""
    if previous is None:
        return
    if claims.get("sub") != previous.get("sub"):
        raise InvalidIdToken("sub changed on refresh", reason="sub_mismatch", parameter="sub")
    if claims.get("iss") != previous.get("iss"):
        raise InvalidIdToken("iss changed on refresh", reason="issuer_mismatch", parameter="iss")
