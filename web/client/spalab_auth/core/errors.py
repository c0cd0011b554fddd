"""Errors raised by the client core, drawn once here; the browser shell catches
``OAuthClientError`` in one place and maps ``code`` to a readable message.

Every error carries plain data:

- ``code``: stable per class, for the shell's message table;
- ``reason``: which guard fired (snake_case, stable; defaults to ``code``);
- ``parameter``: the wire name involved, when there is one;
- ``detail``: English text for logs and the dev timeline (never a token value);
- ``checks``: the ``(name, outcome)`` checks that ran before the failure, ending
  with the failed one, so the timeline can show how far validation got;
- ``error``, ``error_description``, ``error_uri``, ``status``: what the provider or
  API answered, for the errors that come from an answer (AuthorizationDenied,
  TokenEndpointError, RevocationError, ApiError); None elsewhere.

    OAuthClientError
    ├── ConfigurationError
    ├── InvalidEncoding
    ├── DiscoveryError
    ├── IssuerMismatch
    ├── InvalidTransaction
    ├── InvalidCallback
    │   └── ResponseModeMismatch
    ├── StateMismatch
    ├── AuthorizationDenied
    ├── TokenEndpointError
    ├── InvalidTokenResponse
    ├── InvalidJwt
    │   ├── InvalidIdToken
    │   │   ├── NonceMismatch
    │   │   └── AtHashMismatch
    │   └── InvalidAccessToken
    ├── TokenSubstitution
    ├── RevocationError
    └── ApiError
"""


class OAuthClientError(Exception):
    """Base of every error the client core raises."""

    code = "oauth_client_error"

    def __init__(
        self,
        detail: str = "",
        reason: "str | None" = None,
        parameter: "str | None" = None,
        checks: "list[tuple[str, str]] | None" = None,
        error: "str | None" = None,
        error_description: "str | None" = None,
        error_uri: "str | None" = None,
        status: "int | None" = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason if reason is not None else self.code
        self.parameter = parameter
        self.checks = list(checks) if checks else []
        # What the other side answered, when the error comes from an answer (None otherwise).
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status = status

    def __repr__(self) -> str:
        return "%s(reason=%r, parameter=%r)" % (type(self).__name__, self.reason, self.parameter)


class ConfigurationError(OAuthClientError):
    """The caller passed unusable configuration or too little randomness."""

    code = "configuration_error"


class InvalidEncoding(OAuthClientError):
    """Malformed base64url, percent-encoding or JSON."""

    code = "invalid_encoding"


class DiscoveryError(OAuthClientError):
    """The provider metadata is missing, malformed or unusable for this client."""

    code = "discovery_error"


class IssuerMismatch(OAuthClientError):
    """An issuer (discovered ``issuer`` or response ``iss``) is not the expected one."""

    code = "issuer_mismatch"


class InvalidTransaction(OAuthClientError):
    """The stored transaction is malformed, expired or does not fit the request."""

    code = "invalid_transaction"


class InvalidCallback(OAuthClientError):
    """The authorization response is malformed (missing, repeated or unexpected parameters)."""

    code = "invalid_callback"


class ResponseModeMismatch(InvalidCallback):
    """Response parameters arrived in a URL component other than the one requested."""

    code = "response_mode_mismatch"


class StateMismatch(OAuthClientError):
    """The response ``state`` is missing or differs from the transaction's."""

    code = "state_mismatch"


class AuthorizationDenied(OAuthClientError):
    """The provider answered the authorization request with an ``error``."""

    code = "authorization_denied"


class TokenEndpointError(OAuthClientError):
    """The token endpoint answered with an error (``error`` holds the OAuth code)."""

    code = "token_endpoint_error"


class InvalidTokenResponse(OAuthClientError):
    """A successful token response is malformed or unusable."""

    code = "invalid_token_response"


class InvalidJwt(OAuthClientError):
    """A JWT is malformed, badly signed or its claims do not hold."""

    code = "invalid_jwt"


class InvalidIdToken(InvalidJwt):
    """The ID token fails OpenID Connect validation."""

    code = "invalid_id_token"


class NonceMismatch(InvalidIdToken):
    """The ID token ``nonce`` is missing or differs from the transaction's."""

    code = "nonce_mismatch"


class AtHashMismatch(InvalidIdToken):
    """The ID token ``at_hash`` is missing or does not match the access token."""

    code = "at_hash_mismatch"


class InvalidAccessToken(InvalidJwt):
    """A JWT access token (RFC 9068) is malformed, badly signed or expired."""

    code = "invalid_access_token"


class TokenSubstitution(OAuthClientError):
    """The access token cannot be shown to have been issued to this client."""

    code = "token_substitution"


class RevocationError(OAuthClientError):
    """The revocation endpoint refused or failed the request."""

    code = "revocation_error"


class ApiError(OAuthClientError):
    """A protected resource refused the request (``error`` from ``WWW-Authenticate``)."""

    code = "api_error"
