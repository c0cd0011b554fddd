"""Authorization server metadata (RFC 8414 §2, OIDC Discovery §3): everything a
generic client needs, so nothing about this provider has to be hard-coded."""

from collections.abc import Iterable
from typing import Any

from .authorization import RESPONSE_MODES, RESPONSE_TYPES
from .claims import ID_TOKEN_ALG
from .dpop import ALGORITHMS as DPOP_ALGORITHMS
from .grants import GRANT_TYPES
from .records import SCOPES, Client

AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]


def server_metadata(issuer: str, clients: Iterable[Client]) -> dict[str, Any]:
    # RFC 9700 §2.1.2: the implicit response types are advertised only when some client opted in.
    implicit = any(c.allow_implicit for c in clients)
    response_types = [t for t in RESPONSE_TYPES if t == "code" or implicit]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        # OpenID Connect RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": f"{issuer}/end-session",
        "scopes_supported": list(SCOPES),
        "response_types_supported": response_types,
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": list(GRANT_TYPES) + (["implicit"] if len(response_types) > 1 else []),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ID_TOKEN_ALG],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        # RFC 9700 §2.1.1: S256 only.
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207 §3: iss is on every authorization response.
        "authorization_response_iss_parameter_supported": True,
        # RFC 9449 §5.1 / docs/SECURITY.md P33: the proof algorithms accepted, asymmetric only.
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "azp",
            "name",
            "email",
            "email_verified",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
