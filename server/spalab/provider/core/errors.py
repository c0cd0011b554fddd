"""OAuth errors as typed exceptions: one class per RFC error code.

Every error carries the wire `error` code, the HTTP status it maps to, and a
short `description` that is safe to show (never a secret, never a traceback).
"""


class OAuthError(Exception):
    """Base class: an OAuth 2.0 error response."""

    error = "server_error"
    status_code = 400

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 / §4.1.2.1: malformed, missing or repeated parameter."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed."""

    error = "invalid_client"
    status_code = 401


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2: code or refresh token invalid, expired, revoked or mismatched."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §4.1.2.1: the client may not use this grant or response type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2: grant_type not supported."""

    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1: response_type not supported."""

    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    """RFC 6749 §4.1.2.1: scope unknown or not allowed for the client."""

    error = "invalid_scope"


class AccessDenied(OAuthError):
    """RFC 6749 §4.1.2.1: the resource owner denied the request."""

    error = "access_denied"
    status_code = 403


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6: prompt=none but the user is not signed in."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """OIDC Core §3.1.2.6: prompt=none but consent is needed."""

    error = "consent_required"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the access token is missing, expired, revoked or malformed."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1: the access token lacks the scope the resource needs."""

    error = "insufficient_scope"
    status_code = 403


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5, §7.1: the DPoP proof is missing where one is needed, malformed, or does not fit the
    request. 400 at the token endpoint; a protected resource answers 401 with a DPoP challenge."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8, §9: the proof must carry the nonce the server sends in its DPoP-Nonce header."""

    error = "use_dpop_nonce"


class PageError(Exception):
    """An error shown as a page, never as a redirect (RFC 6749 §4.1.2.1:
    client or redirect URI not yet validated)."""

    def __init__(self, title: str, detail: str, status_code: int = 400) -> None:
        super().__init__(title)
        self.title = title
        self.detail = detail
        self.status_code = status_code
