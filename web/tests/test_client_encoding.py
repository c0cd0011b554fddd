"""base64url, percent-encoding and query strings, written by hand for MicroPython."""

from client_support import raises

from spalab_auth.core.encoding import (
    b64url_decode,
    b64url_encode,
    build_query,
    is_ascii,
    parse_json_object,
    parse_query,
    percent_decode,
    percent_encode,
)
from spalab_auth.core.errors import ConfigurationError, DiscoveryError, InvalidEncoding
from spalab_auth.core.urls import add_query, is_secure_url, split_url, url_host


def test_b64url_round_trips_every_length() -> None:
    """RFC 7515 §2: base64url without padding, for 0 to 40 bytes."""
    for length in range(41):
        data = bytes([(index * 37 + 11) % 256 for index in range(length)])
        encoded = b64url_encode(data)
        assert "=" not in encoded and "+" not in encoded and "/" not in encoded
        assert b64url_decode(encoded) == data


def test_b64url_matches_rfc4648_vectors() -> None:
    """RFC 4648 §10: the standard test vectors, unpadded."""
    vectors = [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
    ]
    for raw, encoded in vectors:
        assert b64url_encode(raw) == encoded
        assert b64url_decode(encoded) == raw
    assert b64url_encode(bytes([0xFB, 0xFF])) == "-_8"


def test_b64url_decode_rejects_padding_and_other_alphabets() -> None:
    """RFC 7515 §2: padding and the +/ alphabet are not base64url."""
    for bad in ["Zg==", "a+b/", "Zm9v\n", "Zm 9v", "é", "Z"]:
        with raises(InvalidEncoding) as caught:
            b64url_decode(bad)
        assert caught.error.code == "invalid_encoding"


def test_percent_encode_keeps_only_unreserved() -> None:
    """RFC 3986 §2.3: only ALPHA / DIGIT / - . _ ~ stay literal."""
    assert percent_encode("AZaz09-._~") == "AZaz09-._~"
    assert percent_encode(" !#$&'()*+,/:;=?@[]%") == "%20%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D%25"


def test_percent_encode_utf8() -> None:
    """RFC 3986 §2.5: non-ASCII text is UTF-8 encoded, then percent-encoded."""
    assert percent_encode("é") == "%C3%A9"
    assert percent_encode("€") == "%E2%82%AC"
    assert percent_encode("😀") == "%F0%9F%98%80"


def test_percent_decode_handles_plus_and_lowercase_hex() -> None:
    """WHATWG URL §5.1: form-urlencoded values use + for space; hex is case-insensitive."""
    assert percent_decode("a+b%20c") == "a b c"
    assert percent_decode("%c3%a9%C3%A9") == "éé"
    assert percent_decode("%2B") == "+"


def test_percent_decode_rejects_malformed_escapes() -> None:
    """RFC 3986 §2.1: a percent sign starts exactly two hex digits."""
    for bad in ["%", "%2", "%zz", "%+1", "% 1", "abc%4"]:
        with raises(InvalidEncoding) as caught:
            percent_decode(bad)
        assert caught.error.reason == "percent_escape"


def test_percent_decode_rejects_invalid_utf8() -> None:
    """WHATWG URL §5.1: the decoded bytes must be UTF-8."""
    with raises(InvalidEncoding) as caught:
        percent_decode("%C3%28")
    assert caught.error.reason == "utf8"


def test_query_round_trip_with_reserved_and_unicode() -> None:
    """RFC 6749 Appendix B: parameters survive form-urlencoding in order, with repeats."""
    pairs = [
        ("state", "a&b=c"),
        ("redirect_uri", "http://localhost:8000/cb?x=1#f"),
        ("scope", "openid profile"),
        ("name", "Zoë 😀 €"),
        ("plus", "1+1=2"),
        ("empty", ""),
        ("sp ace", "%41"),
        ("state", "second"),
    ]
    assert parse_query(build_query(pairs)) == pairs


def test_parse_query_skips_empty_parts_and_keeps_bare_names() -> None:
    """WHATWG URL §5.1: empty sequences are skipped; a name without = has an empty value."""
    assert parse_query("") == []
    assert parse_query("&&a=1&&b&c=") == [("a", "1"), ("b", ""), ("c", "")]
    assert parse_query("a=b=c") == [("a", "b=c")]


def test_split_url_finds_query_and_fragment() -> None:
    """RFC 3986 §3: the query ends at the first #; the fragment may contain ?."""
    assert split_url("https://a/p?q=1#f=2?x") == ("https://a/p", "q=1", "f=2?x")
    assert split_url("https://a/p#f?x=1") == ("https://a/p", "", "f?x=1")
    assert split_url("https://a/p") == ("https://a/p", "", "")


def test_add_query_keeps_an_existing_query() -> None:
    """RFC 6749 §3.1: an endpoint's own query is retained when parameters are added."""
    assert add_query("https://a/authorize", [("a", "1")]) == "https://a/authorize?a=1"
    assert add_query("https://a/authorize?tenant=x", [("a", "1 2")]) == "https://a/authorize?tenant=x&a=1%202"


def test_secure_url_requires_https_except_loopback() -> None:
    """RFC 8414 §2 / RFC 8252 §8.3: https, or http on a loopback host only."""
    assert is_secure_url("https://idp.example/")
    assert is_secure_url("http://127.0.0.1:9000")
    assert is_secure_url("http://localhost:8000/cb")
    assert is_secure_url("http://[::1]:9000/x")
    for bad in [
        "http://idp.example",
        "http://127.0.0.1.evil.example",
        "ftp://x",
        "https://",
        "https://u@h/",
        "",
        None,
        5,
    ]:
        assert not is_secure_url(bad)
    assert url_host("HTTP://LocalHost:80/x") == "localhost"


def test_is_ascii() -> None:
    """OIDC Core §3.2.2.9: at_hash is over ASCII octets, which MicroPython does not check."""
    assert is_ascii("abc-._~")
    assert not is_ascii("abé")


def test_parse_json_object_raises_the_given_error() -> None:
    """RFC 8259 §2: a body must be a JSON object where one is expected."""
    assert parse_json_object('{"a": 1}', DiscoveryError) == {"a": 1}
    for bad in ["[1]", "nope", "", None, '"text"']:
        with raises(DiscoveryError) as caught:
            parse_json_object(bad, DiscoveryError)
        assert caught.error.reason == "invalid_json"


def test_b64url_decode_refuses_non_text() -> None:
    """RFC 7515 §2: base64url values are text."""
    with raises(InvalidEncoding) as caught:
        b64url_decode(b"Zg")  # type: ignore[arg-type]  # bytes on purpose
    assert caught.error.reason == "not_text"


def test_add_query_refuses_a_fragment_and_keeps_url_without_pairs() -> None:
    """RFC 6749 §3.1: endpoint URIs have no fragment."""
    with raises(ConfigurationError) as caught:
        add_query("https://a/authorize#x", [("a", "1")])
    assert caught.error.reason == "endpoint_has_fragment"
    assert add_query("https://a/authorize", []) == "https://a/authorize"
