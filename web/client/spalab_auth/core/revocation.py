"""Token revocation (RFC 7009) for a public client, e.g. on sign-out."""

from .config import ClientConfig
from .discovery import ProviderMetadata
from .encoding import build_query, parse_json_object
from .errors import ConfigurationError, RevocationError
from .messages import HttpRequest, HttpResponse, form_post

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


def build_revocation_request(
    metadata: ProviderMetadata, client: ClientConfig, token: str, token_type_hint: "str | None" = None
) -> HttpRequest:
    """POST the token to the revocation endpoint (RFC 7009 §2.1)."""
    if not metadata.revocation_endpoint:
        raise ConfigurationError("no revocation_endpoint", reason="missing_endpoint", parameter="revocation_endpoint")
    # RFC 7009 §2.1: token is required
    if not isinstance(token, str) or not token:
        raise ConfigurationError("no token", reason="missing_token", parameter="token")
    # RFC 7009 §2.1: the hint names one of the registered token types
    if token_type_hint is not None and token_type_hint not in TOKEN_TYPE_HINTS:
        raise ConfigurationError(
            "unknown token_type_hint", reason="invalid_token_type_hint", parameter="token_type_hint"
        )
    pairs = [("token", token)]
    if token_type_hint:
        pairs.append(("token_type_hint", token_type_hint))
    # RFC 7009 §2.1 / RFC 6749 §2.3: a public client sends its client_id
    pairs.append(("client_id", client.client_id))
    return form_post(metadata.revocation_endpoint, build_query(pairs))


def parse_revocation_response(response: HttpResponse) -> None:
    """Return when the token is revoked (or was already invalid), else raise RevocationError."""
    # RFC 7009 §2.2: 200 means revoked, and also "was not valid anyway"; the body is ignored
    if response.status == 200:
        return
    # RFC 7009 §2.2.1: 503 means try again later
    if response.status == 503:
        raise RevocationError("revocation unavailable", status=503, reason="unavailable")
    # RFC 7009 §2.2.1: other errors use the RFC 6749 §5.2 error object
    try:
        data = parse_json_object(response.body, RevocationError)
    except RevocationError:
        data = {}
    error = data.get("error") if isinstance(data.get("error"), str) else None
    reason = "error_response" if error else "http_status"
    raise RevocationError("revocation failed", error=error, status=response.status, reason=reason)
