"""JSON Web Tokens: decoding (RFC 7519 §7.2), registered-claim checks (RFC 7519 §4.1)
and ``at_hash`` (OIDC Core §3.2.2.9). Signatures are checked in ``jwks.py``.

Every function takes ``error``, the OAuthClientError class to raise, so an ID token
failure surfaces as InvalidIdToken and an access token failure as InvalidAccessToken.
"""

import hashlib

from .encoding import b64url_decode, b64url_encode, is_ascii, parse_json_object
from .errors import InvalidEncoding, InvalidJwt, OAuthClientError

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

# RFC 8725 §3.1: the algorithms this client accepts; never "none", never HS*.
ALLOWED_ALGS = ("RS256", "PS256", "ES256")
# Clocks in browsers drift; a minute either way is the usual tolerance.
DEFAULT_LEEWAY_SECONDS = 60


class Jwt:
    """A decoded, not yet trusted, JWS-compact JWT."""

    __slots__ = ("header", "claims", "signing_input", "signature")

    def __init__(
        self, header: "dict[str, Any]", claims: "dict[str, Any]", signing_input: bytes, signature: bytes
    ) -> None:
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature

    @property
    def alg(self) -> str:
        alg = self.header["alg"]  # decode_jwt has checked it is a string
        return str(alg)

    def __repr__(self) -> str:
        return "Jwt(alg=%r, kid=%r, claims=%r)" % (self.alg, self.header.get("kid"), sorted(self.claims))


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts whose first decodes to a JSON object with ``alg``."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        header = parse_json_object(_b64_text(parts[0], InvalidJwt), InvalidJwt)
    except (InvalidEncoding, InvalidJwt):
        return False
    return isinstance(header.get("alg"), str)


def decode_jwt(token: str, error: "type[OAuthClientError]" = InvalidJwt) -> Jwt:
    """Split and decode a JWS-compact JWT without trusting it (RFC 7519 §7.2)."""
    # RFC 7515 §7.1: JWS compact serialization has exactly three parts (five would be JWE)
    if not isinstance(token, str) or token.count(".") != 2 or not is_ascii(token):
        raise error("not a JWS compact JWT", reason="malformed_jwt")
    encoded_header, encoded_claims, encoded_signature = token.split(".")
    header = parse_json_object(_b64_text(encoded_header, error), error, "malformed_jwt")
    claims = parse_json_object(_b64_text(encoded_claims, error), error, "malformed_jwt")
    signature = _b64(encoded_signature, error)
    # RFC 7515 §4.1.1: alg is required
    if not isinstance(header.get("alg"), str):
        raise error("header has no alg", reason="malformed_jwt", parameter="alg")
    # RFC 7515 §4.1.11: critical extensions we do not understand make the JWS invalid
    if "crit" in header:
        raise error("unsupported crit header", reason="unsupported_crit", parameter="crit")
    signing_input = (encoded_header + "." + encoded_claims).encode()
    return Jwt(header, claims, signing_input, signature)


def _b64(part: str, error: "type[OAuthClientError]") -> bytes:
    try:
        return b64url_decode(part)
    except InvalidEncoding:
        raise error("part is not base64url", reason="malformed_jwt") from None


def _b64_text(part: str, error: "type[OAuthClientError]") -> str:
    try:
        return _b64(part, error).decode("utf-8")
    except UnicodeError:
        raise error("part is not UTF-8", reason="malformed_jwt") from None


def is_number(value: object) -> bool:
    """A JSON number; bool is excluded (it is an int on CPython but not on MicroPython)."""
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """A JSON number, not infinite nor NaN (which json reads from 1e400 or NaN; RFC 8259 §6 has neither):
    x - x is 0 for every finite x and NaN otherwise (no math module in the portable core)."""
    return is_number(value) and value - value == 0  # type: ignore[operator]


def audiences(claims: "dict[str, Any]") -> "list[str]":
    """RFC 7519 §4.1.3: aud is a string or an array of strings."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [item for item in aud if isinstance(item, str)]
    return []


def validate_claims(
    claims: "dict[str, Any]",
    issuer: str,
    audience: "str | None",
    now: float,
    error: "type[OAuthClientError]" = InvalidJwt,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    require_iat: bool = True,
) -> None:
    """iss, aud, exp, nbf and iat against the expected values and ``now`` (seconds)."""
    # RFC 7519 §4.1.1 / OIDC Core §3.1.3.7(2): iss must equal the issuer exactly
    if claims.get("iss") != issuer:
        raise error("iss differs", reason="issuer_mismatch", parameter="iss")
    # RFC 7519 §4.1.3 / OIDC Core §3.1.3.7(3): aud must contain this client or resource
    if audience is not None and audience not in audiences(claims):
        raise error("aud does not contain us", reason="audience_mismatch", parameter="aud")
    _check_time_claims(claims, now, error, leeway, require_iat)


def _check_time_claims(
    claims: "dict[str, Any]", now: float, error: "type[OAuthClientError]", leeway: float, require_iat: bool
) -> None:
    # RFC 7519 §4.1.4 / OIDC Core §3.1.3.7(9): exp is required and must be in the future
    if not is_number(claims.get("exp")):
        raise error("exp missing or not a number", reason="missing_exp", parameter="exp")
    if now >= claims["exp"] + leeway:
        raise error("token expired", reason="expired", parameter="exp")
    nbf = claims.get("nbf")
    # RFC 7519 §4.1.5: the token must not be used before nbf
    if nbf is not None and (not is_number(nbf) or now + leeway < claims["nbf"]):
        raise error("token not yet valid", reason="not_yet_valid", parameter="nbf")
    # OIDC Core §2 / §3.1.3.7(10): iat is required; one from the future is refused
    if claims.get("iat") is None and not require_iat:
        return
    if not is_number(claims.get("iat")):
        raise error("iat missing or not a number", reason="missing_iat", parameter="iat")
    if claims["iat"] > now + leeway:
        raise error("issued in the future", reason="issued_in_future", parameter="iat")


def compute_at_hash(access_token: str, alg: str, error: "type[OAuthClientError]" = InvalidJwt) -> str:
    """Left half of the hash of the ASCII access token, base64url (OIDC Core §3.2.2.9)."""
    # OIDC Core §3.2.2.9: the hash is the one named by alg; all allowed algs use SHA-256
    if alg not in ALLOWED_ALGS:
        raise error("no hash for alg", reason="alg_not_allowed", parameter="alg")
    # OIDC Core §3.2.2.9: the hash is over the ASCII octets of the token
    if not is_ascii(access_token):
        raise error("access token is not ASCII", reason="malformed_access_token", parameter="access_token")
    digest = hashlib.sha256(access_token.encode()).digest()
    return b64url_encode(digest[:16])
