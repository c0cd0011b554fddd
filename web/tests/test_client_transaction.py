"""Per-transaction state, nonce and verifier (C1, C3), kept in sessionStorage."""

from client_support import CLIENT_ID, ISSUER, NOW, REDIRECT_URI, counting_random_bytes, make_client, raises

from spalab_auth.core.encoding import b64url_decode
from spalab_auth.core.errors import ConfigurationError, InvalidTransaction
from spalab_auth.core.pkce import validate_code_verifier
from spalab_auth.core.transaction import Transaction, new_transaction, random_value


def test_code_transaction_draws_state_nonce_and_verifier() -> None:
    """RFC 6749 §10.10, RFC 7636 §4.1: 32 fresh random bytes for each value."""
    requested = []
    source = counting_random_bytes()

    def random_bytes(count: int) -> bytes:
        requested.append(count)
        return source(count)

    tx = new_transaction(make_client(), "code", "query", random_bytes, NOW)
    assert requested == [32, 32, 32]
    assert len(b64url_decode(tx.state)) == 32 and len(b64url_decode(tx.nonce or "")) == 32
    validate_code_verifier(tx.code_verifier or "")
    assert len({tx.state, tx.nonce, tx.code_verifier}) == 3
    assert (tx.issuer, tx.client_id, tx.redirect_uri, tx.created_at) == (ISSUER, CLIENT_ID, REDIRECT_URI, NOW)


def test_implicit_transaction_has_no_verifier() -> None:
    """RFC 7636 §1: PKCE belongs to the code flow only."""
    tx = new_transaction(make_client(), "id_token token", "fragment", counting_random_bytes(), NOW)
    assert tx.code_verifier is None and tx.nonce
    assert not tx.is_code_flow


def test_random_value_needs_128_bits() -> None:
    """RFC 6749 §10.10: state and nonce carry at least 128 bits."""
    with raises(ConfigurationError) as caught:
        random_value(bytes(15))
    assert caught.error.reason == "insufficient_entropy"
    assert len(random_value(bytes(16))) == 22


def test_short_random_source_is_refused() -> None:
    """RFC 6749 §10.10: a CSPRNG that returns fewer bytes than asked weakens every value."""
    with raises(ConfigurationError) as caught:
        new_transaction(make_client(), "code", "query", lambda count: bytes(count - 1), NOW)
    assert caught.error.reason == "insufficient_entropy"


def test_implicit_in_the_query_is_refused() -> None:
    """RFC 9700 §2.1.2 / Multiple Response Types §5: tokens never travel in the query."""
    for response_type in ("token", "id_token token"):
        with raises(ConfigurationError) as caught:
            new_transaction(make_client(), response_type, "query", counting_random_bytes(), NOW)
        assert caught.error.reason == "implicit_requires_fragment"


def test_unknown_response_type_and_mode_are_refused() -> None:
    """RFC 6749 §3.1.1: only the flows this client implements."""
    with raises(ConfigurationError) as caught:
        new_transaction(make_client(), "code token", "fragment", counting_random_bytes(), NOW)
    assert caught.error.reason == "unsupported_response_type"
    with raises(ConfigurationError) as caught:
        new_transaction(make_client(), "code", "form_post", counting_random_bytes(), NOW)
    assert caught.error.reason == "unsupported_response_mode"


def test_transaction_json_round_trip() -> None:
    """C3: the shell stores the transaction in sessionStorage and reads it back intact."""
    tx = new_transaction(make_client(), "code", "fragment", counting_random_bytes(7), NOW)
    again = Transaction.from_json(tx.to_json())
    for name in Transaction.__slots__:
        assert getattr(again, name) == getattr(tx, name), name
    tx.max_age = 0  # prompt=login
    assert Transaction.from_json(tx.to_json()).max_age == 0


def test_malformed_stored_transaction_is_refused() -> None:
    """C1: a tampered sessionStorage entry must not drive a callback."""
    good = new_transaction(make_client(), "code", "query", counting_random_bytes(), NOW).to_json()
    for bad in ["", "[]", "{", good.replace('"state"', '"stat"'), good.replace(str(NOW), '"soon"')]:
        with raises(InvalidTransaction) as caught:
            Transaction.from_json(bad)
        assert caught.error.code == "invalid_transaction"


def test_transaction_expires() -> None:
    """RFC 9700 §4.7.1: one-time values belong to a recent request."""
    tx = new_transaction(make_client(), "code", "query", counting_random_bytes(), NOW)
    assert not tx.is_expired(NOW + 600)
    assert tx.is_expired(NOW + 601)
    assert tx.is_expired(NOW - 3600)


def test_transaction_repr_masks_secrets() -> None:
    """STYLE §9: state, nonce and verifier never appear whole in logs."""
    tx = new_transaction(make_client(), "code", "query", counting_random_bytes(), NOW)
    text = repr(tx)
    assert tx.nonce and tx.code_verifier
    assert tx.state not in text and tx.nonce not in text and tx.code_verifier not in text
    assert tx.state[:6] in text


def test_implicit_transaction_json_round_trip() -> None:
    """C1: an implicit transaction (no verifier) survives sessionStorage too."""
    tx = new_transaction(make_client(), "token", "fragment", counting_random_bytes(), NOW)
    again = Transaction.from_json(tx.to_json())
    assert again.code_verifier is None and again.state == tx.state and again.response_type == "token"
