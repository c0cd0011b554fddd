"""Authorization server metadata (RFC 8414 §2; OIDC Discovery §3)."""

import pytest

from spalab.provider.core.metadata import server_metadata
from spalab.provider.core.records import Client

SPA = Client("spa", ("http://c/cb",))
LEGACY = Client("legacy", ("http://c/cb",), allow_implicit=True)


@pytest.mark.parametrize(
    "clients, response_types, grant_types",
    [
        ((SPA,), ["code"], ["authorization_code", "refresh_token"]),
        ((SPA, LEGACY), ["code", "token", "id_token token"], ["authorization_code", "refresh_token", "implicit"]),
    ],
)
def test_implicit_advertised_only_with_an_opted_in_client(
    clients: tuple[Client, ...], response_types: list[str], grant_types: list[str]
) -> None:
    """RFC 8414 §2 / RFC 9700 §2.1.2: the implicit flow is advertised only when a client may use it."""
    metadata = server_metadata("https://idp", clients)
    assert (metadata["response_types_supported"], metadata["grant_types_supported"]) == (response_types, grant_types)


def test_endpoints_and_pkce() -> None:
    """RFC 8414 §2, RFC 9207 §3, RFC 9700 §2.1.1: endpoints under the issuer, S256 only, iss on responses."""
    metadata = server_metadata("https://idp", [SPA])
    assert metadata["issuer"] == "https://idp"
    assert metadata["token_endpoint"] == "https://idp/token"
    assert metadata["jwks_uri"] == "https://idp/jwks"
    assert metadata["end_session_endpoint"] == "https://idp/end-session"  # RP-Initiated Logout §2.1
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
