"""DPoP (RFC 9449): the proof checks of §4.3 and the binding decisions of §5 and §7.

The shell (provider/dpop.py) hands in the DPoP header values, the request's method, the URL this
provider publishes for the endpoint, the time, the nonces it accepts now and, at a protected resource,
the access token; it then spends the proof's jti once. JWS and JWK come from joserfc: verifying a
signature with the key the proof itself carries is pure computation (no key of ours, no I/O, no clock),
so it is decided here with every other check. Nothing here signs.
"""

import base64
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from .errors import InvalidDPoPProof, InvalidGrant, InvalidRequest, InvalidToken, UseDPoPNonce
from .pkce import SHA256_BASE64URL
from .records import Client

TYP = "dpop+jwt"
# docs/SECURITY.md P33: asymmetric algorithms only, never `none` or a MAC (RFC 9449 §4.3 (5)); discovery lists them.
ALGORITHMS = ("ES256", "ES384", "PS256", "RS256")
# RFC 9449 §4.3 (11), §11.1: iat within this many seconds of the server's clock, either way.
IAT_WINDOW = 60
# RFC 7518 §3.3: RSA keys of 2048 bits or more.
RSA_MIN_BITS = 2048
MAX_PROOF = 8192
MAX_JTI = 256
# RFC 9449 §4.2: the header is typ, alg and jwk. Anything else (crit, b64, kid, jku, x5c) could change which
# key or which input is verified, so it is refused.
HEADER_MEMBERS = frozenset({"typ", "alg", "jwk"})
# RFC 7517 §9.2, RFC 7518 §6.2.2, §6.3.2, §6.4: the members that hold private or secret key material.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
KEY_TYPES: dict[str, tuple[str, type[ECKey] | type[RSAKey]]] = {
    "ES": ("EC", ECKey),
    "PS": ("RSA", RSAKey),
    "RS": ("RSA", RSAKey),
}
DPOP, BEARER = "dpop", "bearer"

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_REGISTRY = jws.JWSRegistry(algorithms=ALGORITHMS)
_REGISTRY.max_header_length = 2048  # an RSA-4096 public key in the header needs more than joserfc's 512
# What reading a hostile JWS can raise (docs/SECURITY.md P22): joserfc's errors, bad base64 or JSON, odd
# member types, and JSON nested deeper than the interpreter's stack.
_UNREADABLE = (JoseError, ValueError, TypeError, KeyError, AttributeError, RecursionError)


@dataclass(frozen=True)
class Expected:
    """What a proof must fit: the request it arrived with (RFC 9449 §4.3 (8)–(12))."""

    method: str
    url: str  # the endpoint's URL as this provider publishes it
    now: int
    nonces: tuple[str, ...] = ()  # the server's current nonces; empty: none is demanded
    access_token: str | None = None  # at a protected resource: the token `ath` must hash


@dataclass(frozen=True)
class Proof:
    """A valid proof: the thumbprint of its key (RFC 7638) and what replay detection needs."""

    jkt: str
    jti: str
    iat: float

    @property
    def replay_key(self) -> str:
        return f"{self.jkt}:{self.jti}"

    @property
    def remember_until(self) -> int:
        """Past this time the proof's iat is outside the window, so its jti need not be remembered."""
        return math.ceil(self.iat) + IAT_WINDOW + 1


# --- the proof (RFC 9449 §4.3), one guard per item --------------------------------------------------


def validate_proof(values: list[str], expected: Expected) -> Proof | None:
    """The DPoP header's proof, checked in full; None when the request carries no DPoP header."""
    if not values:
        return None
    one_header(values)
    signed = well_formed(values[0])
    header, claims = signed.headers(), payload_claims(signed)
    required_members(header, claims, expected)
    check_typ(header)
    alg = check_alg(header)
    key = public_key(header, alg)
    check_signature(signed, key)
    check_htm(claims, expected)
    check_htu(claims, expected)
    check_nonce(claims, expected)
    check_iat(claims, expected)
    check_ath(claims, expected)
    return Proof(key.thumbprint(), claims["jti"], claims["iat"])


def one_header(values: list[str]) -> None:
    # RFC 9449 §4.3 (1): not more than one DPoP header field.
    if len(values) > 1:
        raise InvalidDPoPProof("send one DPoP header")


def well_formed(value: str) -> jws.CompactSignature:
    # RFC 9449 §4.3 (2): the header's value is a single well-formed JWT (a compact JWS).
    if len(value) > MAX_PROOF or not _COMPACT.fullmatch(value):
        raise InvalidDPoPProof("the DPoP proof is not a compact JWS")
    try:
        signed = jws.extract_compact(value.encode("ascii"), registry=_REGISTRY)
    except _UNREADABLE:
        raise InvalidDPoPProof("the DPoP proof cannot be read") from None
    if not isinstance(signed.headers(), dict):
        raise InvalidDPoPProof("the DPoP proof's header is not a JSON object")
    return signed


def payload_claims(signed: jws.CompactSignature) -> dict[str, Any]:
    # RFC 7519 §7.2 (10): the claims are a JSON object.
    try:
        claims = json.loads(signed.payload)
    except _UNREADABLE:
        raise InvalidDPoPProof("the DPoP proof's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("the DPoP proof's claims are not a JSON object")
    return claims


def required_members(header: dict[str, Any], claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (3): typ, alg, jwk in the header; jti, htm, htu, iat in the claims; ath at a resource.
    if set(header) != HEADER_MEMBERS:
        raise InvalidDPoPProof("the DPoP proof's header must be exactly typ, alg and jwk")
    needed = ("jti", "htm", "htu", "ath") if expected.access_token is not None else ("jti", "htm", "htu")
    missing = [name for name in (*needed, "iat") if name not in claims]
    if missing:
        raise InvalidDPoPProof(f"the DPoP proof has no {missing[0]}")
    if not all(isinstance(claims[name], str) for name in needed) or not 0 < len(claims["jti"]) <= MAX_JTI:
        raise InvalidDPoPProof("the DPoP proof's jti, htm, htu and ath must be strings")
    iat = claims["iat"]
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise InvalidDPoPProof("the DPoP proof's iat must be a number")
    if not isinstance(claims.get("nonce", ""), str):
        raise InvalidDPoPProof("the DPoP proof's nonce must be a string")


def check_typ(header: dict[str, Any]) -> None:
    # RFC 9449 §4.3 (4): typ is dpop+jwt (an id_token or access token is not a proof).
    if header["typ"] != TYP:
        raise InvalidDPoPProof(f"the DPoP proof's typ must be {TYP}")


def check_alg(header: dict[str, Any]) -> str:
    # RFC 9449 §4.3 (5) / docs/SECURITY.md P33: an asymmetric algorithm this server supports; never none or HS*.
    alg = header["alg"]
    if alg not in ALGORITHMS:
        raise InvalidDPoPProof(f"the DPoP proof's alg must be one of {' '.join(ALGORITHMS)}")
    return str(alg)


def public_key(header: dict[str, Any], alg: str) -> ECKey | RSAKey:
    jwk = header["jwk"]
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("the DPoP proof's jwk is not a JSON object")
    # RFC 9449 §4.3 (7) / docs/SECURITY.md P33: the jwk holds a public key, no private or secret part.
    if PRIVATE_MEMBERS & set(jwk):
        raise InvalidDPoPProof("the DPoP proof's jwk holds private key material")
    kty, key_class = KEY_TYPES[alg[:2]]
    # RFC 7518 §3.1: the key's type fits the algorithm (EC for ES*, RSA for RS* and PS*).
    if jwk.get("kty") != kty:
        raise InvalidDPoPProof(f"{alg} needs a {kty} key")
    try:
        key = key_class.import_key(jwk)
    except _UNREADABLE:
        raise InvalidDPoPProof("the DPoP proof's jwk is not a valid key") from None
    # RFC 7518 §3.3: RSA keys of at least 2048 bits.
    if isinstance(key, RSAKey) and key.public_key.key_size < RSA_MIN_BITS:
        raise InvalidDPoPProof(f"RSA keys must have at least {RSA_MIN_BITS} bits")
    return key


def check_signature(signed: jws.CompactSignature, key: ECKey | RSAKey) -> None:
    # RFC 9449 §4.3 (6): the signature verifies with the public key in the jwk header (and the key fits alg).
    try:
        valid = jws.validate_compact(signed, key, registry=_REGISTRY)
    except _UNREADABLE:
        valid = False
    if not valid:
        raise InvalidDPoPProof("the DPoP proof's signature does not verify with its jwk")


def check_htm(claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (8): htm is the request's method (methods are case-sensitive, RFC 9110 §9.1).
    if claims["htm"] != expected.method:
        raise InvalidDPoPProof("the DPoP proof's htm is not this request's method")


def check_htu(claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (9): htu is this request's URI, query and fragment ignored, compared after normalization.
    htu = normalized_uri(claims["htu"])
    if htu is None or htu != normalized_uri(expected.url):
        raise InvalidDPoPProof("the DPoP proof's htu is not this endpoint's URL")


def check_nonce(claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (10), §8, §9: when the server demands a nonce, the proof carries one it handed out lately.
    if expected.nonces and claims.get("nonce") not in expected.nonces:
        raise UseDPoPNonce("the DPoP proof must carry the nonce from the DPoP-Nonce header")


def check_iat(claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (11), §11.1: the proof was made within the accepted window around now.
    if abs(claims["iat"] - expected.now) > IAT_WINDOW:
        raise InvalidDPoPProof(f"the DPoP proof's iat is more than {IAT_WINDOW} s from the server's time")


def check_ath(claims: dict[str, Any], expected: Expected) -> None:
    # RFC 9449 §4.3 (12), §7.1: at a resource, ath is the hash of the access token presented with the proof.
    if expected.access_token is None:
        return
    if not hmac.compare_digest(str(claims["ath"]).encode(), access_token_hash(expected.access_token).encode()):
        raise InvalidDPoPProof("the DPoP proof's ath is not the hash of this access token")


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2: base64url(SHA-256(the ASCII access token)), no padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized_uri(value: str) -> str | None:
    """RFC 3986 §6.2.2, §6.2.3: scheme and host in lower case, no default port, an empty path is "/",
    percent-encodings in upper case and unreserved ones decoded; query and fragment dropped (RFC 9449 §4.3)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _PERCENT.sub(_normalized_escape, parts.path or "/")
    return f"{scheme}://{netloc}{path}"


def _normalized_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def check_jti_unused(first_use: bool) -> None:
    """`first_use` is the store's answer to "record this proof" (atomic: one concurrent caller gets True)."""
    # RFC 9449 §11.1 / docs/SECURITY.md P31: a proof is accepted once within its iat window.
    if not first_use:
        raise InvalidDPoPProof("this DPoP proof was already used (jti)")


# --- binding tokens to the proof's key (RFC 9449 §5, §6, §7) ------------------------------------------


def require_proof(client: Client, proof: Proof | None) -> None:
    # RFC 9449 §5.2 / docs/SECURITY.md P34: a client registered with dpop_bound_access_tokens sends a proof
    # with every token request, so none of its tokens is ever a bearer token.
    if proof is None and client.dpop_bound_access_tokens:
        raise InvalidDPoPProof("this client must send a DPoP proof")


def validate_dpop_jkt(value: str | None, response_type: str) -> str | None:
    """RFC 9449 §10: the authorization request's dpop_jkt, the thumbprint of the key the client will prove at
    the token endpoint; None when absent. Raises InvalidRequest when it is malformed or comes with the
    implicit flow (whose tokens never meet the token endpoint, so nothing would check the binding)."""
    if value is None:
        return None
    if response_type != "code":
        raise InvalidRequest("dpop_jkt applies to the code flow only")
    if not SHA256_BASE64URL.fullmatch(value):  # RFC 7638 with SHA-256
        raise InvalidRequest("dpop_jkt must be a SHA-256 JWK thumbprint (RFC 7638), base64url")
    return value


def check_code_binding(bound_jkt: str | None, proof: Proof | None) -> None:
    """RFC 9449 §10 / docs/SECURITY.md P38: a code whose authorization request named a key (dpop_jkt) is
    redeemed only with a proof of that key. Checked before the code is consumed: a wrong key does not spend
    it, as a wrong code_verifier does not."""
    _check_binding(
        bound_jkt,
        proof,
        "this code is bound to a DPoP key (dpop_jkt): send a DPoP proof",
        "the DPoP proof's key is not the one the authorization request named (dpop_jkt)",
    )


def token_type(jkt: str | None) -> str:
    """RFC 9449 §5: a bound access token is of type DPoP (case-insensitive for clients); others Bearer."""
    return "DPoP" if jkt is not None else "Bearer"


def refresh_token_binding(client: Client, proof: Proof | None) -> str | None:
    """The key a newly issued refresh token is bound to, or None."""
    # RFC 9449 §5 / docs/SECURITY.md P34: a public client's refresh token is bound to the proof's key; a
    # confidential client's is not, since the client authenticates when it uses it.
    if proof is None or client.is_confidential:
        return None
    return proof.jkt


def check_refresh_token_binding(bound_jkt: str | None, proof: Proof | None) -> None:
    # RFC 9449 §5 / docs/SECURITY.md P34: a bound refresh token is used with a proof of the same key.
    _check_binding(
        bound_jkt,
        proof,
        "this refresh token is bound to a DPoP key: send a DPoP proof",
        "this refresh token is bound to another DPoP key",
    )


def _check_binding(bound_jkt: str | None, proof: Proof | None, no_proof: str, other_key: str) -> None:
    """A grant bound to a key (None: to none) is used only with a proof of that key: without a proof,
    invalid_dpop_proof; with another key's, invalid_grant."""
    if bound_jkt is None:
        return
    if proof is None:
        raise InvalidDPoPProof(no_proof)
    if not hmac.compare_digest(proof.jkt, bound_jkt):
        raise InvalidGrant(other_key)


def token_binding(claims: dict[str, Any]) -> str | None:
    """RFC 9449 §6.1: the JWK thumbprint in a verified access token's `cnf`, or None for a bearer token."""
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
        raise InvalidToken("the access token's cnf is malformed")
    return str(cnf["jkt"])


def check_presentation(scheme: str, bound_jkt: str | None, proof: Proof | None) -> None:
    """At a protected resource: does the way the token came (scheme, proof) fit its binding?"""
    if scheme == BEARER:
        # RFC 9449 §7.2 / docs/SECURITY.md P35: a DPoP-bound token presented as Bearer is refused (downgrade).
        if bound_jkt is not None:
            raise InvalidToken("this access token is DPoP-bound: present it with the DPoP scheme and a proof")
        return
    # RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens, with a proof.
    if bound_jkt is None:
        raise InvalidToken("this access token is not DPoP-bound: present it with the Bearer scheme")
    if proof is None:
        raise InvalidDPoPProof("the DPoP scheme needs a DPoP proof")
    # RFC 9449 §4.3 (12), §7.1 / docs/SECURITY.md P35: the proof's key is the one the token is bound to.
    if not hmac.compare_digest(proof.jkt, bound_jkt):
        raise InvalidDPoPProof("the DPoP proof is signed with another key than the access token is bound to")
