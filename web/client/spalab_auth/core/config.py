"""The client's own registration: who it is, where it returns, which provider it trusts."""

from .errors import ConfigurationError
from .urls import is_secure_url, split_url


class ClientConfig:
    """A public client (no secret) of one issuer. Built once from the shell's config file."""

    __slots__ = ("issuer", "client_id", "redirect_uri", "scope")

    def __init__(self, issuer: str, client_id: str, redirect_uri: str, scope: str = "openid") -> None:
        # RFC 8414 §2: the issuer is an https URL (loopback http tolerated for development)
        if not is_secure_url(issuer):
            raise ConfigurationError("issuer must be an https URL", reason="insecure_issuer", parameter="issuer")
        # RFC 8414 §2: the issuer has no query or fragment component
        if "?" in issuer or "#" in issuer:
            raise ConfigurationError("issuer has a query or fragment", reason="issuer_has_query", parameter="issuer")
        # RFC 6749 §2.2: every request names the client
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id is required", reason="missing_client_id", parameter="client_id")
        _check_redirect_uri(redirect_uri)
        if not isinstance(scope, str):
            raise ConfigurationError("scope must be text", reason="invalid_scope", parameter="scope")
        self.issuer = issuer
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope

    @classmethod
    def from_dict(cls, data: "dict[str, str]") -> "ClientConfig":
        """Build from the shell's JSON config (keys are the wire names)."""
        return cls(
            data.get("issuer", ""),
            data.get("client_id", ""),
            data.get("redirect_uri", ""),
            data.get("scope", "openid"),
        )

    def __repr__(self) -> str:
        return "ClientConfig(issuer=%r, client_id=%r, redirect_uri=%r)" % (
            self.issuer,
            self.client_id,
            self.redirect_uri,
        )


def _check_redirect_uri(redirect_uri: str) -> None:
    # RFC 9700 §4.1.3 / RFC 6749 §3.1.2: an absolute URI over TLS (or loopback)
    if not is_secure_url(redirect_uri):
        raise ConfigurationError(
            "redirect_uri must be absolute https", reason="invalid_redirect_uri", parameter="redirect_uri"
        )
    # RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment
    if split_url(redirect_uri)[2] or "#" in redirect_uri:
        raise ConfigurationError(
            "redirect_uri has a fragment", reason="redirect_uri_has_fragment", parameter="redirect_uri"
        )
