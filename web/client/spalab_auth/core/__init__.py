"""spalab_auth.core: the portable OAuth 2.0 / OpenID Connect client core for browser apps.

Runs unchanged on CPython 3.11+, Pyodide and MicroPython 1.28. It performs no I/O
and reads no clock: each network step is a pair, ``build_*`` returning an
HttpRequest for the shell to send and ``parse_*`` validating the HttpResponse it got.
Random bytes (``random_bytes(n)``) and the time (``now``, seconds) come from the caller.

A sign-in with authorization code + PKCE, as the browser shell drives it::

    metadata = parse_discovery_response(issuer, fetch(build_discovery_request(issuer)))
    tx = new_transaction(client, "code", "query", random_bytes, now)
    # keep tx.to_json() in sessionStorage under tx.state, then go to:
    build_authorization_url(metadata, client, tx)
    # ... back on the redirect URI, look the transaction up by find_callback_states(url)
    result = parse_callback(url, tx, metadata, now)
    tokens = parse_token_response(fetch(build_code_exchange_request(metadata, client, tx, result.code)),
                                  metadata, client, now, tx)
"""

from .access_token import is_jwt_access_token, validate_jwt_access_token
from .api import (
    bearer_challenge,
    build_api_request,
    build_userinfo_request,
    challenge_params,
    parse_api_response,
    parse_userinfo_response,
)
from .authorization import PROMPTS, authorization_parameters, build_authorization_url
from .callback import CallbackResult, find_callback_states, parse_callback
from .config import ClientConfig
from .discovery import (
    OAUTH_AUTHORIZATION_SERVER,
    OPENID_CONFIGURATION,
    ProviderMetadata,
    build_authorization_server_request,
    build_discovery_request,
    check_dpop_support,
    merge_authorization_server_metadata,
    parse_discovery_response,
)
from .dpop import ProofInput, jwk_thumbprint, new_proof, public_jwk, response_nonce, retry_nonce
from .encoding import b64url_decode, b64url_encode, build_query, parse_query, percent_decode, percent_encode
from .errors import (
    ApiError,
    AtHashMismatch,
    AuthorizationDenied,
    ConfigurationError,
    DiscoveryError,
    InvalidAccessToken,
    InvalidCallback,
    InvalidEncoding,
    InvalidIdToken,
    InvalidJwt,
    InvalidTokenResponse,
    InvalidTransaction,
    IssuerMismatch,
    NonceMismatch,
    OAuthClientError,
    ResponseModeMismatch,
    RevocationError,
    StateMismatch,
    TokenEndpointError,
    TokenSubstitution,
)
from .id_token import validate_id_token
from .implicit import implicit_signature_inputs, validate_implicit_response
from .jwks import PrecomputedVerifier, SignatureInput, select_jwk, signature_input, verify_signature
from .jwt import ALLOWED_ALGS, compute_at_hash, decode_jwt
from .logout import build_end_session_url, check_logout_return, logout_return_state, new_logout_state
from .messages import HttpRequest, HttpResponse
from .pkce import code_challenge_s256, generate_code_verifier
from .revocation import build_revocation_request, parse_revocation_response
from .session import TokenSet, masked
from .token import (
    build_code_exchange_request,
    build_refresh_request,
    parse_refresh_response,
    parse_token_response,
)
from .transaction import Transaction, new_transaction, random_value

__all__ = [
    "ALLOWED_ALGS",
    "ApiError",
    "AtHashMismatch",
    "authorization_parameters",
    "AuthorizationDenied",
    "b64url_decode",
    "b64url_encode",
    "bearer_challenge",
    "build_api_request",
    "build_authorization_url",
    "build_code_exchange_request",
    "build_end_session_url",
    "build_authorization_server_request",
    "build_discovery_request",
    "build_query",
    "build_refresh_request",
    "build_revocation_request",
    "build_userinfo_request",
    "CallbackResult",
    "challenge_params",
    "check_dpop_support",
    "check_logout_return",
    "ClientConfig",
    "code_challenge_s256",
    "compute_at_hash",
    "ConfigurationError",
    "decode_jwt",
    "DiscoveryError",
    "find_callback_states",
    "generate_code_verifier",
    "HttpRequest",
    "HttpResponse",
    "implicit_signature_inputs",
    "InvalidAccessToken",
    "InvalidCallback",
    "InvalidEncoding",
    "InvalidIdToken",
    "InvalidJwt",
    "InvalidTokenResponse",
    "InvalidTransaction",
    "is_jwt_access_token",
    "jwk_thumbprint",
    "logout_return_state",
    "IssuerMismatch",
    "masked",
    "merge_authorization_server_metadata",
    "new_logout_state",
    "new_proof",
    "new_transaction",
    "NonceMismatch",
    "OAUTH_AUTHORIZATION_SERVER",
    "OAuthClientError",
    "OPENID_CONFIGURATION",
    "parse_api_response",
    "parse_callback",
    "parse_discovery_response",
    "parse_query",
    "parse_refresh_response",
    "parse_revocation_response",
    "parse_token_response",
    "parse_userinfo_response",
    "percent_decode",
    "percent_encode",
    "PrecomputedVerifier",
    "PROMPTS",
    "ProofInput",
    "ProviderMetadata",
    "public_jwk",
    "random_value",
    "response_nonce",
    "ResponseModeMismatch",
    "retry_nonce",
    "RevocationError",
    "select_jwk",
    "signature_input",
    "SignatureInput",
    "StateMismatch",
    "TokenEndpointError",
    "TokenSet",
    "TokenSubstitution",
    "Transaction",
    "validate_id_token",
    "validate_implicit_response",
    "validate_jwt_access_token",
    "verify_signature",
]
