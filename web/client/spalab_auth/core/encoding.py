"""base64url, percent-encoding, query strings and JSON objects, written by hand
because ``urllib.parse`` and ``base64`` are not available everywhere the core runs.

Decoding is strict: anything malformed raises ``InvalidEncoding`` instead of being
guessed at, because every value decoded here is security-relevant.
"""

import binascii
import json

from .errors import InvalidEncoding, OAuthClientError

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

# RFC 3986 §2.3: unreserved characters are never percent-encoded.
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
HEX_DIGITS = "0123456789ABCDEFabcdef"
# RFC 4648 §5: the URL- and filename-safe alphabet, used unpadded (RFC 7515 §2).
BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def is_ascii(text: str) -> bool:
    """True when every character is ASCII (MicroPython's ``encode("ascii")`` never fails)."""
    for char in text:
        if ord(char) > 127:
            return False
    return True


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2) of ``data``."""
    text = binascii.b2a_base64(bytes(data)).decode().strip()
    return text.replace("+", "-").replace("/", "_").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; padding, ``+``, ``/`` and whitespace are rejected."""
    if not isinstance(text, str):
        raise InvalidEncoding("base64url value must be text", reason="not_text")
    for char in text:
        if char not in BASE64URL_ALPHABET:
            raise InvalidEncoding("character outside the base64url alphabet", reason="base64url")
    # RFC 4648 §4: a final group of one character cannot encode a whole byte.
    if len(text) % 4 == 1:
        raise InvalidEncoding("truncated base64url value", reason="base64url")
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    return binascii.a2b_base64(padded.encode())


def percent_encode(text: str) -> str:
    """Percent-encode UTF-8 ``text``, keeping only unreserved characters (RFC 3986 §2.1)."""
    out = []
    for char in text:
        if char in UNRESERVED:
            out.append(char)
        else:
            for byte in char.encode("utf-8"):
                out.append("%%%02X" % byte)
    return "".join(out)


def percent_decode(text: str) -> str:
    """Decode a form-urlencoded value: ``%XX`` escapes and ``+`` as space (WHATWG URL §5.1)."""
    raw = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            raw.append(_hex_byte(text[index + 1 : index + 3]))
            index += 3
            continue
        raw.extend(b" " if char == "+" else char.encode("utf-8"))
        index += 1
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeError:
        raise InvalidEncoding("percent-encoded bytes are not UTF-8", reason="utf8") from None


def _hex_byte(pair: str) -> int:
    # int(..., 16) accepts "+f" and " f" on some runtimes: check the digits ourselves.
    if len(pair) != 2 or pair[0] not in HEX_DIGITS or pair[1] not in HEX_DIGITS:
        raise InvalidEncoding("malformed percent escape", reason="percent_escape")
    return int(pair, 16)


def build_query(pairs: "list[tuple[str, str]]") -> str:
    """``name=value&...`` with both sides percent-encoded, in the order given."""
    return "&".join(percent_encode(name) + "=" + percent_encode(value) for name, value in pairs)


def parse_query(text: str) -> "list[tuple[str, str]]":
    """Split a query or fragment into ``(name, value)`` pairs, keeping order and repeats."""
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((percent_decode(name), percent_decode(value)))
    return pairs


def parse_json_object(
    text: "str | None", error: "type[OAuthClientError]", reason: str = "invalid_json"
) -> "dict[str, Any]":
    """Parse ``text`` as a JSON object or raise ``error`` (an OAuthClientError class)."""
    if not isinstance(text, str):
        raise error("response body is not text", reason=reason)
    try:
        value = json.loads(text)
    except ValueError:
        raise error("response body is not JSON", reason=reason) from None
    if not isinstance(value, dict):
        raise error("response body is not a JSON object", reason=reason)
    return value
