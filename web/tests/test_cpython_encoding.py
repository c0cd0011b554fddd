"""Property tests for the hand-written encoders (CPython only: hypothesis, urllib)."""

import base64
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from spalab_auth.core.api import parse_challenges
from spalab_auth.core.encoding import b64url_decode, b64url_encode, build_query, parse_query, percent_encode

# Any text that is valid UTF-8 (lone surrogates cannot be encoded by anyone).
TEXT = st.text(st.characters(exclude_categories=["Cs"]))


@given(st.binary(max_size=200))
def test_b64url_round_trip_and_matches_stdlib(data: bytes) -> None:
    """RFC 4648 §5: same output as the standard library, without padding."""
    encoded = b64url_encode(data)
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64url_decode(encoded) == data


@given(st.lists(st.tuples(TEXT, TEXT), max_size=8))
def test_query_round_trip(pairs: "list[tuple[str, str]]") -> None:
    """RFC 6749 Appendix B: any parameters survive build_query/parse_query."""
    assert parse_query(build_query(pairs)) == [pair for pair in pairs]


@given(st.lists(st.tuples(TEXT.filter(bool), TEXT), max_size=8))
def test_query_interoperates_with_urllib(pairs: "list[tuple[str, str]]") -> None:
    """WHATWG URL §5: our encoding is read by urllib, and urllib's by us."""
    assert parse_qsl(build_query(pairs), keep_blank_values=True) == pairs
    assert parse_query(urlencode(pairs)) == pairs
    assert parse_query(urlencode(pairs, quote_via=quote)) == pairs


@given(TEXT)
def test_percent_encode_matches_rfc3986_quote(text: str) -> None:
    """RFC 3986 §2.3: only unreserved characters stay literal."""
    assert percent_encode(text) == quote(text, safe="-._~")


@given(st.text(max_size=80))
def test_challenge_parser_never_crashes(header: str) -> None:
    """RFC 9110 §11.6.1: arbitrary WWW-Authenticate values never raise."""
    for scheme, params in parse_challenges(header):
        assert isinstance(scheme, str) and isinstance(params, dict)
