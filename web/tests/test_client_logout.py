"""RP-Initiated Logout 1.0 from the client's side, and the prompt parameter (OIDC Core §3.1.2.1)."""

from client_support import (
    CLIENT_ID,
    ISSUER,
    counting_random_bytes,
    make_client,
    make_metadata,
    make_transaction,
    metadata_document,
    raises,
)

from spalab_auth.core.authorization import build_authorization_url
from spalab_auth.core.discovery import validate_metadata
from spalab_auth.core.encoding import parse_query
from spalab_auth.core.errors import ConfigurationError, DiscoveryError, StateMismatch
from spalab_auth.core.logout import build_end_session_url, check_logout_return, logout_return_state, new_logout_state
from spalab_auth.core.urls import split_url

END_SESSION = ISSUER + "/end-session"
APP = "https://app.example/"


def query_of(url: str) -> "dict[str, str]":
    return dict(parse_query(split_url(url)[1]))


def test_prompt_is_sent_when_asked_for() -> None:
    """prompt=none for a silent sign-in, prompt=login to ask for the password again."""
    for prompt in ("none", "login", "consent", "select_account"):
        url = build_authorization_url(make_metadata(), make_client(), make_transaction(), prompt)
        assert query_of(url)["prompt"] == prompt
    assert "prompt" not in query_of(build_authorization_url(make_metadata(), make_client(), make_transaction()))


def test_an_unknown_prompt_is_refused() -> None:
    for prompt in ("", "none login", "Login", "create"):
        with raises(ConfigurationError) as caught:
            build_authorization_url(make_metadata(), make_client(), make_transaction(), prompt)
        assert caught.error.reason == "invalid_prompt"


def test_end_session_url_carries_hint_client_return_and_state() -> None:
    metadata = make_metadata(end_session_endpoint=END_SESSION)
    url = build_end_session_url(metadata, make_client(), "h.i.nt", APP, "s1")
    assert split_url(url)[0] == END_SESSION
    assert query_of(url) == {
        "id_token_hint": "h.i.nt",
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": APP,
        "state": "s1",
    }


def test_without_a_hint_or_return_address_only_the_client_is_named() -> None:
    """The provider then asks the visitor to confirm (RP-Initiated Logout §2), and shows its own page."""
    url = build_end_session_url(make_metadata(end_session_endpoint=END_SESSION), make_client(), None, None, "s1")
    assert query_of(url) == {"client_id": CLIENT_ID}


def test_a_provider_without_end_session_is_a_clear_error() -> None:
    with raises(ConfigurationError) as caught:
        build_end_session_url(make_metadata(), make_client(), "h.i.nt", APP, "s1")
    assert caught.error.reason == "no_end_session_endpoint"


def test_an_insecure_end_session_endpoint_is_refused_at_discovery() -> None:
    """The id_token_hint is sent there: the same https rule as every other endpoint."""
    with raises(DiscoveryError) as caught:
        validate_metadata(metadata_document(end_session_endpoint="http://idp.example/end"), ISSUER)
    assert caught.error.parameter == "end_session_endpoint"


def test_the_logout_return_must_echo_our_state() -> None:
    check_logout_return(APP + "?state=s1", "s1")
    for url in (APP + "?state=s2", APP, APP + "?state=s1&state=s1", APP + "#state=s1"):
        with raises(StateMismatch) as caught:
            check_logout_return(url, "s1")
        assert caught.error.reason == "logout_state"
    assert logout_return_state(APP + "?x=1&state=abc") == "abc"


def test_logout_state_is_fresh_randomness() -> None:
    random_bytes = counting_random_bytes()
    first, second = new_logout_state(random_bytes), new_logout_state(random_bytes)
    assert first != second and len(first) >= 43
    with raises(ConfigurationError):
        new_logout_state(lambda count: b"\x00" * (count - 1))
