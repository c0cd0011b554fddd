"""The client's registration (issuer, client_id, redirect_uri)."""

from client_support import CLIENT_ID, ISSUER, REDIRECT_URI, raises

from spalab_auth.core.config import ClientConfig
from spalab_auth.core.errors import ConfigurationError

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


def reason_for(**changes: "Any") -> str:
    values = {"issuer": ISSUER, "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}
    values.update(changes)
    with raises(ConfigurationError) as caught:
        ClientConfig.from_dict(values)
    return caught.error.reason


def test_valid_config_builds() -> None:
    """RFC 6749 §2: a public client is an id and a redirect URI."""
    client = ClientConfig.from_dict({"issuer": ISSUER, "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI})
    assert (client.issuer, client.client_id, client.redirect_uri, client.scope) == (
        ISSUER,
        CLIENT_ID,
        REDIRECT_URI,
        "openid",
    )


def test_issuer_must_be_https_without_query() -> None:
    """RFC 8414 §2: the issuer is an https URL with no query or fragment."""
    assert reason_for(issuer="http://idp.example") == "insecure_issuer"
    assert reason_for(issuer="https://idp.example?x=1") == "issuer_has_query"
    assert reason_for(issuer="https://idp.example#f") == "issuer_has_query"


def test_client_id_is_required() -> None:
    """RFC 6749 §2.2: requests name the client."""
    assert reason_for(client_id="") == "missing_client_id"


def test_redirect_uri_must_be_absolute_and_fragment_free() -> None:
    """RFC 6749 §3.1.2: absolute, and no fragment component."""
    assert reason_for(redirect_uri="/callback") == "invalid_redirect_uri"
    assert reason_for(redirect_uri="http://spa.example/cb") == "invalid_redirect_uri"
    assert reason_for(redirect_uri="http://localhost:8000/cb#x") == "redirect_uri_has_fragment"


def test_scope_must_be_text() -> None:
    """RFC 6749 §3.3: scope is a space-delimited string."""
    with raises(ConfigurationError) as caught:
        ClientConfig(ISSUER, CLIENT_ID, REDIRECT_URI, ["openid"])  # type: ignore[arg-type]  # a list on purpose
    assert caught.error.reason == "invalid_scope"
    assert CLIENT_ID in repr(ClientConfig(ISSUER, CLIENT_ID, REDIRECT_URI))
