"""Reading the authorization response: component (C4), state (C1), iss (C2), then
error (C9), code or tokens."""

from client_support import ISSUER, NOW, REDIRECT_URI, make_metadata, make_transaction, raises

from spalab_auth.core.callback import find_callback_states, parse_callback
from spalab_auth.core.encoding import build_query
from spalab_auth.core.errors import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidTransaction,
    IssuerMismatch,
    ResponseModeMismatch,
    StateMismatch,
)
from spalab_auth.core.transaction import Transaction


def url(query: "list[tuple[str, str]] | None" = None, fragment: "list[tuple[str, str]] | None" = None) -> str:
    text = REDIRECT_URI
    if query is not None:
        text += "?" + build_query(query)
    if fragment is not None:
        text += "#" + build_query(fragment)
    return text


def code_params(tx: Transaction, **changes: "str | None") -> "list[tuple[str, str]]":
    params = [("code", "c0de"), ("state", tx.state), ("iss", ISSUER)]
    return _apply(params, changes)


def token_params(tx: Transaction, **changes: "str | None") -> "list[tuple[str, str]]":
    params = [
        ("access_token", "opaque-at"),
        ("token_type", "Bearer"),
        ("expires_in", "600"),
        ("state", tx.state),
        ("iss", ISSUER),
    ]
    return _apply(params, changes)


def _apply(params: "list[tuple[str, str]]", changes: "dict[str, str | None]") -> "list[tuple[str, str]]":
    changed = [(name, changes.pop(name) if name in changes else value) for name, value in params]
    kept = [(name, value) for name, value in changed if value is not None]
    return kept + [(name, value) for name, value in changes.items() if value is not None]


def test_code_in_query_passes_all_checks_in_order() -> None:
    """RFC 6749 §4.1.2 / RFC 9207 §2.4: component, state, iss, error, then the code."""
    tx = make_transaction("code", "query")
    result = parse_callback(url(query=code_params(tx)), tx, make_metadata(), NOW)
    assert result.code == "c0de" and result.iss == ISSUER
    assert result.checks == [
        ("response_mode", "ok"),
        ("state", "ok"),
        ("transaction_age", "ok"),
        ("redirect_uri", "ok"),
        ("iss", "ok"),
        ("error", "ok"),
        ("code", "ok"),
    ]


def test_code_in_fragment_when_requested() -> None:
    """Multiple Response Types §2.1: response_mode=fragment moves the code to the fragment."""
    tx = make_transaction("code", "fragment")
    assert parse_callback(url(fragment=code_params(tx)), tx, make_metadata()).code == "c0de"


def test_implicit_tokens_in_fragment() -> None:
    """RFC 6749 §4.2.2: tokens arrive in the fragment."""
    tx = make_transaction("token", "fragment")
    result = parse_callback(url(fragment=token_params(tx)), tx, make_metadata())
    assert (result.access_token, result.token_type, result.expires_in) == ("opaque-at", "Bearer", 600)
    assert result.checks[-1] == ("tokens", "ok")


def test_query_mode_ignores_a_lone_fragment_but_not_response_parameters() -> None:
    """C4: only the requested component is read; response parameters elsewhere are refused."""
    tx = make_transaction("code", "query")
    assert parse_callback(url(query=code_params(tx)) + "#section-2", tx, make_metadata()).code == "c0de"
    with raises(ResponseModeMismatch) as caught:
        parse_callback(url(query=code_params(tx), fragment=[("access_token", "x")]), tx, make_metadata())
    assert (caught.error.reason, caught.error.parameter) == ("wrong_component", "access_token")


def test_code_in_fragment_for_query_mode_is_refused() -> None:
    """C4: a code-flow response in the wrong component is refused."""
    tx = make_transaction("code", "query")
    with raises(ResponseModeMismatch) as caught:
        parse_callback(url(fragment=code_params(tx)), tx, make_metadata())
    assert caught.error.code == "response_mode_mismatch"
    assert caught.error.checks == [("response_mode", "failed")]


def test_tokens_in_query_for_fragment_mode_are_refused() -> None:
    """C4 / RFC 9700 §2.1.2: implicit tokens in the query are refused even if the fragment is valid."""
    tx = make_transaction("token", "fragment")
    with raises(ResponseModeMismatch) as caught:
        parse_callback(
            url(query=[("access_token", "leaked")], fragment=token_params(tx, access_token=None)),
            tx,
            make_metadata(),
        )
    assert caught.error.reason == "wrong_component"


def test_app_query_parameters_are_allowed_with_fragment_mode() -> None:
    """C4: unrelated parameters of the redirect URI itself are not response parameters."""
    tx = make_transaction("token", "fragment")
    assert parse_callback(url(query=[("lang", "en")], fragment=token_params(tx)), tx, make_metadata()).access_token


def test_parameters_in_both_components_are_refused() -> None:
    """C4: the same parameter in query and fragment is ambiguous, so refused."""
    tx = make_transaction("code", "query")
    with raises(ResponseModeMismatch) as caught:
        parse_callback(url(query=code_params(tx), fragment=[("state", tx.state)]), tx, make_metadata())
    assert (caught.error.reason, caught.error.parameter) == ("parameter_in_both_components", "state")


def test_repeated_parameter_is_refused() -> None:
    """RFC 6749 §3.1: parameters must not be included more than once."""
    tx = make_transaction("code", "query")
    with raises(InvalidCallback) as caught:
        parse_callback(url(query=code_params(tx) + [("code", "other")]), tx, make_metadata())
    assert (caught.error.reason, caught.error.parameter) == ("repeated_parameter", "code")


def test_missing_state_is_refused() -> None:
    """RFC 6749 §4.1.2: state is required when the request had one (C1)."""
    tx = make_transaction()
    with raises(StateMismatch) as caught:
        parse_callback(url(query=code_params(tx, state=None)), tx, make_metadata())
    assert caught.error.reason == "missing_state"


def test_wrong_state_is_refused() -> None:
    """RFC 6749 §10.12: a different state is a forged response (C1)."""
    tx = make_transaction()
    with raises(StateMismatch) as caught:
        parse_callback(url(query=code_params(tx, state=tx.state + "x")), tx, make_metadata())
    assert caught.error.code == "state_mismatch"
    assert caught.error.checks == [("response_mode", "ok"), ("state", "failed")]


def test_state_is_checked_before_an_error_is_shown() -> None:
    """C9 / RFC 6749 §10.12: an error response with a bad state is a forgery, not a denial."""
    tx = make_transaction()
    forged = [
        ("error", "access_denied"),
        ("error_description", "Sign-in cancelled"),
        ("state", "attacker"),
        ("iss", ISSUER),
    ]
    with raises(StateMismatch):
        parse_callback(url(query=forged), tx, make_metadata())


def test_iss_is_checked_before_an_error_is_shown() -> None:
    """C9 / RFC 9207 §2.4: an error response from the wrong issuer is refused as a mix-up."""
    tx = make_transaction()
    mixed = [("error", "access_denied"), ("state", tx.state), ("iss", "https://evil.example")]
    with raises(IssuerMismatch) as caught:
        parse_callback(url(query=mixed), tx, make_metadata())
    assert caught.error.reason == "iss_mismatch"


def test_error_after_state_and_iss_is_authorization_denied() -> None:
    """RFC 6749 §4.1.2.1: error, error_description and error_uri reach the user (C9)."""
    tx = make_transaction("token", "fragment")
    denied = [
        ("error", "access_denied"),
        ("error_description", "User said no"),
        ("error_uri", "https://x/e"),
        ("state", tx.state),
        ("iss", ISSUER),
    ]
    with raises(AuthorizationDenied) as caught:
        parse_callback(url(fragment=denied), tx, make_metadata())
    error = caught.error
    assert (error.code, error.error, error.error_description, error.error_uri) == (
        "authorization_denied",
        "access_denied",
        "User said no",
        "https://x/e",
    )
    assert error.checks == [
        ("response_mode", "ok"),
        ("state", "ok"),
        ("redirect_uri", "ok"),
        ("iss", "ok"),
        ("error", "failed"),
    ]


def test_missing_iss_is_refused_when_advertised() -> None:
    """RFC 9207 §2.4: a provider advertising iss must send it (C2)."""
    tx = make_transaction()
    with raises(IssuerMismatch) as caught:
        parse_callback(url(query=code_params(tx, iss=None)), tx, make_metadata())
    assert (caught.error.reason, caught.error.parameter) == ("missing_iss", "iss")


def test_wrong_iss_is_refused() -> None:
    """RFC 9207 §2.4: iss must equal the discovered issuer exactly (C2)."""
    tx = make_transaction()
    for other in (ISSUER + "/", "https://evil.example", ""):
        with raises(IssuerMismatch) as caught:
            parse_callback(url(query=code_params(tx, iss=other)), tx, make_metadata())
        assert caught.error.reason == "iss_mismatch"


def test_iss_when_not_advertised() -> None:
    """RFC 9207 §2.4: without the metadata flag iss may be absent, but if present it must match."""
    tx = make_transaction()
    metadata = make_metadata(authorization_response_iss_parameter_supported=False)
    result = parse_callback(url(query=code_params(tx, iss=None)), tx, metadata)
    assert ("iss", "skipped") in result.checks
    with raises(IssuerMismatch):
        parse_callback(url(query=code_params(tx, iss="https://evil.example")), tx, metadata)


def test_code_response_without_code_is_refused() -> None:
    """RFC 6749 §4.1.2: a success response carries the code."""
    tx = make_transaction()
    with raises(InvalidCallback) as caught:
        parse_callback(url(query=code_params(tx, code=None)), tx, make_metadata())
    assert caught.error.reason == "missing_code"


def test_tokens_in_a_code_response_are_refused() -> None:
    """RFC 6749 §4.1.2: response_type=code returns no tokens; extra ones are injected."""
    tx = make_transaction()
    with raises(InvalidCallback) as caught:
        parse_callback(url(query=code_params(tx, access_token="injected")), tx, make_metadata())
    assert (caught.error.reason, caught.error.parameter) == ("unexpected_parameter", "access_token")


def test_implicit_response_requirements() -> None:
    """RFC 6749 §4.2.2 / OIDC Core §3.2.2.5: required members, Bearer only, no code."""
    cases = [  # type: list[tuple[str, dict[str, str | None], str]]
        ("token", {"access_token": None}, "missing_access_token"),
        ("token", {"token_type": None}, "missing_token_type"),
        ("token", {"token_type": "mac"}, "unsupported_token_type"),
        ("token", {"code": "c"}, "unexpected_parameter"),
        ("token", {"expires_in": "-5"}, "invalid_expires_in"),
        ("token", {"expires_in": "1e3"}, "invalid_expires_in"),
        ("id_token token", {}, "missing_id_token"),
    ]
    for response_type, changes, reason in cases:
        tx = make_transaction(response_type, "fragment")
        with raises(InvalidCallback) as caught:
            parse_callback(url(fragment=token_params(tx, **changes)), tx, make_metadata())
        assert caught.error.reason == reason, (changes, caught.error.reason)


def test_token_type_is_case_insensitive() -> None:
    """RFC 6749 §5.1: token_type is compared case-insensitively."""
    tx = make_transaction("token", "fragment")
    assert parse_callback(url(fragment=token_params(tx, token_type="bearer")), tx, make_metadata()).access_token


def test_expired_transaction_is_refused() -> None:
    """RFC 9700 §4.7.1: a stale transaction cannot complete."""
    tx = make_transaction()
    with raises(InvalidTransaction) as caught:
        parse_callback(url(query=code_params(tx)), tx, make_metadata(), NOW + 3600)
    assert caught.error.reason == "expired"


def test_find_callback_states_reads_both_components() -> None:
    """C1: the shell finds the transaction by state before it knows the component."""
    assert find_callback_states(url(query=[("state", "q")], fragment=[("state", "f")])) == ["q", "f"]
    assert find_callback_states(REDIRECT_URI) == []


def test_absurdly_long_expires_in_is_refused() -> None:
    """RFC 6749 §4.2.2: expires_in is a lifetime in seconds, not an arbitrary number."""
    tx = make_transaction("token", "fragment")
    with raises(InvalidCallback) as caught:
        parse_callback(url(fragment=token_params(tx, expires_in="9" * 13)), tx, make_metadata())
    assert caught.error.reason == "invalid_expires_in"


def test_a_response_at_another_redirect_uri_is_refused_before_its_code_is_taken() -> None:
    """RFC 9700 §4.4.2.2, docs/SECURITY.md C2 (mix-up): an app with two providers, each with its own redirect
    URI. A provider that sends no iss forwards the browser to the other provider with this sign-in's state; the
    other answers at its own redirect URI. Its code must not go to this sign-in's token endpoint."""
    tx = make_transaction("code", "query")
    metadata = make_metadata(authorization_response_iss_parameter_supported=False)
    for elsewhere in (
        "http://localhost:8000/callback-other",
        "http://localhost:8001/callback",
        "http://127.0.0.1:8000/callback",
        "https://localhost:8000/callback",
        "http://localhost:8000/",
    ):
        answer = elsewhere + "?" + build_query([("code", "c0de"), ("state", tx.state)])
        with raises(InvalidCallback) as caught:
            parse_callback(answer, tx, metadata, NOW)
        assert caught.error.reason == "wrong_redirect_uri", elsewhere
        assert caught.error.checks[-1] == ("redirect_uri", "failed")


def test_the_redirect_uri_is_compared_as_the_address_bar_shows_it() -> None:
    """The browser writes the host in lower case and leaves out a default port: a redirect URI configured as
    HTTP://LOCALHOST:80/callback?app=1 still takes its answers; its own query may come back beside the
    response's parameters (RFC 6749 §3.1.2)."""
    tx = make_transaction("code", "query")
    tx.redirect_uri = "HTTP://LOCALHOST:80/callback?app=1"
    answer = "http://localhost/callback?" + build_query([("app", "1"), ("code", "c0de"), ("state", tx.state)])
    result = parse_callback(answer, tx, make_metadata(authorization_response_iss_parameter_supported=False), NOW)
    assert result.code == "c0de"
