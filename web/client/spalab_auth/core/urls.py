"""The little URL handling the client needs: split off query and fragment, append
parameters, and tell whether an endpoint is safe to send credentials to."""

from .encoding import build_query
from .errors import ConfigurationError

# RFC 8252 §8.3: loopback hosts are the only place plain http is tolerated.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def split_url(url: str) -> "tuple[str, str, str]":
    """``(base, query, fragment)``; query and fragment are ``""`` when absent."""
    base, _, fragment = url.partition("#")
    base, _, query = base.partition("?")
    return base, query, fragment


def add_query(url: str, pairs: "list[tuple[str, str]]") -> str:
    """Append parameters to ``url``, keeping a query it already has (RFC 6749 §3.1)."""
    if "#" in url:
        # RFC 6749 §3.1: endpoint URIs must not include a fragment component.
        raise ConfigurationError("endpoint URL has a fragment", reason="endpoint_has_fragment")
    if not pairs:
        return url
    base, query, _ = split_url(url)
    joined = query + "&" + build_query(pairs) if query else build_query(pairs)
    return base + "?" + joined


DEFAULT_PORTS = {"http": "80", "https": "443"}


def endpoint_of(url: str) -> "tuple[str, str, str, str]":
    """(scheme, host, port, path) of an absolute URL, as a browser's address bar shows it: scheme and host in
    lower case, the default port written out, an empty path as "/"; query and fragment left out."""
    base = split_url(url)[0]
    scheme, _, rest = base.partition("://")
    scheme = scheme.lower()
    authority = _authority(rest)
    host = _host_of(authority)
    port = authority[len(host) + 1 :] if authority[len(host) : len(host) + 1] == ":" else ""
    return scheme, host.lower(), port or DEFAULT_PORTS.get(scheme, ""), rest[len(authority) :] or "/"


def url_host(url: str) -> "str | None":
    """Lower-cased host (with brackets for IPv6) of an absolute http(s) URL, else None."""
    lowered = url.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            authority = _authority(url[len(scheme) :])
            return _host_of(authority).lower() if authority else None
    return None


def _authority(rest: str) -> str:
    for stop in "/?#":
        rest = rest.partition(stop)[0]
    return rest


def _host_of(authority: str) -> str:
    if "@" in authority:
        return ""  # userinfo in an endpoint URL is never legitimate here
    if authority.startswith("["):
        return authority.partition("]")[0] + "]"
    return authority.partition(":")[0]


def is_secure_url(url: object) -> bool:
    """https with a host, or http on a loopback host (RFC 8414 §2, RFC 8252 §8.3)."""
    if not isinstance(url, str):
        return False
    host = url_host(url)
    if not host:
        return False
    if url.lower().startswith("https://"):
        return True
    return host in LOOPBACK_HOSTS
