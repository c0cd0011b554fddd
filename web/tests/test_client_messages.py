"""Request and response descriptions exchanged with the shell (STYLE §9: reprs never leak)."""

from client_support import ISSUER, NOW, REDIRECT_URI, make_metadata, make_transaction
from client_vectors import JWKS, TOKENS

from spalab_auth.core.api import build_api_request
from spalab_auth.core.callback import parse_callback
from spalab_auth.core.encoding import build_query
from spalab_auth.core.errors import StateMismatch
from spalab_auth.core.jwks import signature_input
from spalab_auth.core.jwt import decode_jwt
from spalab_auth.core.messages import HttpResponse


def test_request_as_dict_carries_everything_for_fetch() -> None:
    """RFC 6750 §2.1: the shell sends exactly the method, URL, headers and body given."""
    request = build_api_request(ISSUER + "/api", "secret-token")
    assert request.as_dict() == {
        "method": "GET",
        "url": ISSUER + "/api",
        "headers": {"Authorization": "Bearer secret-token", "Accept": "application/json"},
        "body": None,
    }


def test_reprs_show_names_not_secrets() -> None:
    """STYLE §9: logs show parameter and header names, never token values."""
    request = build_api_request(ISSUER + "/api", "secret-token")
    assert "secret-token" not in repr(request) and "Authorization" in repr(request)
    response = HttpResponse(200, {"Set-Cookie": "session=secret"}, "secret body")
    assert "secret" not in repr(response) and "Set-Cookie" in repr(response)
    tx = make_transaction()
    result = parse_callback(
        REDIRECT_URI + "?" + build_query([("code", "c0de"), ("state", tx.state), ("iss", ISSUER)]),
        tx,
        make_metadata(),
        NOW,
    )
    assert "c0de" not in repr(result) and "code" in repr(result)
    checked = signature_input(decode_jwt(TOKENS["id_for_opaque"]), JWKS)
    assert repr(checked) == "SignatureInput(alg='RS256', kid='rsa-1')"
    assert repr(StateMismatch("x", reason="missing_state")) == "StateMismatch(reason='missing_state', parameter=None)"


def test_header_lookup_is_case_insensitive() -> None:
    """RFC 9110 §5.1: field names are case-insensitive."""
    response = HttpResponse(401, {"WWW-Authenticate": "Bearer"})
    assert response.header("www-authenticate") == "Bearer" and response.header("x-missing") is None
