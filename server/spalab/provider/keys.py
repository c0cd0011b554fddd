"""The provider's I/O and randomness around tokens: the signing keys (stored, signing,
verifying RFC 9068 access tokens) and the opaque secrets used for codes and refresh
tokens. JOSE via joserfc. The claims themselves are built in core/claims.py.

Two kinds of signing key (docs/SECURITY.md P37): RSA (RS256) for id_tokens, the algorithm every
OpenID Connect client expects unless it registered another (OIDC Core §3.1.3.7, §2 of Dynamic
Client Registration), and P-256 (ES256) for access tokens, which only resource servers verify
(RFC 9068 §4) and which a provider signs on every token response: an RS256 signature costs about
0.3 ms of CPU here (without the GIL: database.AFTER_THREADS), an ES256 one about 0.05 ms (joserfc's
whole encode, with the GIL). Every key names its algorithm in its JWK, and a token is verified only
with its key's own algorithm.
"""

import base64
import json
import logging
import secrets
import threading
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey

from .core.claims import ACCESS_TOKEN_ALG, AT_TYP, ID_TOKEN_ALG
from .core.errors import InvalidToken
from .database import unavailable
from .store import Store

logger = logging.getLogger("spalab.provider")

# docs/SECURITY.md P22: what joserfc raises for a token it cannot read. Besides its own errors and
# ValueError (bad base64 or JSON), a crafted header such as {"crit": [1]} raises TypeError, and JSON nested
# past the interpreter's recursion limit RecursionError.
UNREADABLE_JWT = (JoseError, ValueError, TypeError, RecursionError)
# joserfc reads no header whose base64url form is longer than this (JWSRegistry.max_header_length); nor
# does _kid.
MAX_HEADER = 512


def new_secret() -> str:
    """An opaque code or token: 256 bits from the OS CSPRNG (docs/SECURITY.md P18)."""
    return secrets.token_urlsafe(32)


# Key rotation (docs/SECURITY.md P37): every instance reloads the published keys from the store at least this
# often (on its clock), and at once (at most every KEY_RELOAD_MIN seconds) on a token whose kid it does not
# know. A rotated key is published ahead of signing by more than this (PUBLISH_AHEAD), so every instance
# publishes and verifies a key before any instance signs with it.
KEY_RELOAD = 60
KEY_RELOAD_MIN = 1
# The least time a key is published before it signs: twice the reload interval.
PUBLISH_AHEAD = 2 * KEY_RELOAD
# Every kind of key the provider signs with, by algorithm.
SIGNING_ALGS = (ID_TOKEN_ALG, ACCESS_TOKEN_ALG)
# How many access tokens KeyRing remembers as verified (their claims, about 1 KB each).
VERIFIED_TOKENS = 4096


Key = RSAKey | ECKey


def new_signing_key(alg: str = ID_TOKEN_ALG) -> tuple[str, str]:
    """A new signing key for `alg` (RS256: RSA 2048; ES256: P-256): its kid (the JWK thumbprint) and its
    private JWK, as JSON, which names the algorithm (RFC 7517 §4.4)."""
    parameters: KeyParameters = {"use": "sig", "alg": alg}
    if alg == ID_TOKEN_ALG:
        key: Key = RSAKey.generate_key(2048, parameters=parameters, auto_kid=True)
    elif alg == ACCESS_TOKEN_ALG:
        key = ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)
    else:
        raise ValueError(f"no signing key for {alg}")
    return key.kid or "", json.dumps(key.as_dict(private=True))


def _import(private_jwk: str) -> Key:
    data = json.loads(private_jwk)
    return ECKey.import_key(data) if data["kty"] == "EC" else RSAKey.import_key(data)


def alg_of(private_jwk: str) -> str:
    """The algorithm a stored key signs with (every key the provider made names it)."""
    return str(json.loads(private_jwk)["alg"])


def retired_keys(schedule: list[tuple[str, int]], now: int, grace: int) -> list[str]:
    """The kids of keys no token can need any more (docs/SECURITY.md P37): for each algorithm, every key older
    than the newest one that has been signing for `grace` seconds or more (the longest JWT lifetime plus a
    reload interval). Such a key stopped signing at the latest when that one started, so whatever it signed
    has expired on every instance. `schedule` is Store.signing_key_schedule's (ordered by signs_from); the key
    signing now, and the keys published ahead of it, are never among them."""
    keys = [(json.loads(jwk), signs_from) for jwk, signs_from in schedule]
    kids = []
    for alg in SIGNING_ALGS:
        mine = [(str(key["kid"]), signs_from) for key, signs_from in keys if key["alg"] == alg]
        settled = [signs_from for _, signs_from in mine if signs_from <= now - grace]
        if settled:
            # Strictly older: a key that starts signing at the same moment as the settled one is not its
            # predecessor (which of the two signs depends on an order the databases do not promise).
            kids += [kid for kid, signs_from in mine if signs_from < settled[-1]]
    return kids


def missing_algs(stored: list[str]) -> list[str]:
    """The kinds of key (by algorithm) that the stored private JWKs lack."""
    have = {alg_of(jwk) for jwk in stored}
    return [alg for alg in SIGNING_ALGS if alg not in have]


def missing_keys(stored: list[str], now: int) -> list[tuple[str, str, int]]:
    """(kid, private JWK, signs from) for each kind of key `stored` lacks. On a new database they sign at
    once. On a database that already has keys (one from before ES256 access tokens), the new kind is
    published PUBLISH_AHEAD before it signs, like a rotated key (P37): until then access tokens are signed
    with the RSA key, so no instance meets a token it cannot yet verify."""
    signs_from = now + PUBLISH_AHEAD if stored else now
    return [(*new_signing_key(alg), signs_from) for alg in missing_algs(stored)]


class KeyRing:
    """The provider's signing keys: all published, the newest whose time has come signs."""

    def __init__(self, store: Store, schedule: list[tuple[str, int]], now: int) -> None:
        self.store = store
        self._lock = threading.Lock()
        # Access tokens whose signature and typ were checked, with their claims and the key set that checked
        # them: an SPA presents one token again and again (every API call until it expires), and decoding and
        # verifying it was a tenth of a userinfo request's CPU. Only tokens that passed get in (a forger
        # cannot fill it), keyed by the token's exact text, and an entry counts only while that key set is
        # the ring's (a reload replaces it: a retired key's tokens are checked again, and fail). The claims
        # are still validated (exp, iss, aud...) at every use, and the store still says whether the token
        # was revoked. Oldest out first beyond VERIFIED_TOKENS.
        self._verified: dict[str, tuple[dict[str, Any], KeySet]] = {}
        self._verified_lock = threading.Lock()
        self._install(schedule, now)

    def _install(self, schedule: list[tuple[str, int]], now: int) -> None:
        keys = [(_import(jwk), signs_from) for jwk, signs_from in schedule]
        # One assignment: a request on another thread sees the old schedule or the new one, never a mix.
        self._state = (tuple(keys), KeySet([key for key, _ in keys]), now)

    @classmethod
    def load_or_create(cls, store: Store, now: int) -> "KeyRing":
        """The stored keys; on a new database a first key of each kind is made, once, however many instances
        start (and a kind the database lacks is added: missing_keys)."""

        if missing_algs(store.signing_keys()):  # checked first: generating a key takes a while
            store.complete_signing_keys(lambda stored: missing_keys(stored, now), now)
        return cls(store, store.signing_key_schedule(), now)

    def reload(self, now: int, every: int = KEY_RELOAD) -> None:
        """Reads the published keys again if the last read is `every` seconds old (one thread reads)."""
        if now - self._state[2] < every or not self._lock.acquire(blocking=False):
            return
        try:
            if now - self._state[2] >= every:
                self._install(self.store.signing_key_schedule(), now)
        finally:
            self._lock.release()

    @property
    def keys(self) -> list[Key]:
        return [key for key, _ in self._state[0]]

    @property
    def key_set(self) -> KeySet:
        return self._state[1]

    def current(self, now: int, alg: str = ID_TOKEN_ALG) -> Key:
        """The newest `alg` key whose time to sign has come (the earliest, if none has yet). An access token
        is signed with the RSA key while no ES256 key's time has come (missing_keys)."""
        mine = [(key, signs_from) for key, signs_from in self._state[0] if key.alg == alg]
        signing = [key for key, signs_from in mine if signs_from <= now]
        if signing:
            return signing[-1]
        if alg != ID_TOKEN_ALG:
            return self.current(now, ID_TOKEN_ALG)
        return mine[0][0]

    def public_jwks(self, now: int | None = None) -> dict[str, Any]:
        if now is not None:
            self.reload(now)
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def sign(self, claims: dict[str, Any], typ: str, now: int) -> str:
        """An access token (typ at+jwt) is signed with ES256, anything else (an id_token) with RS256.

        A token response is signed after its transaction committed (issuance.TokenResponse): the code or
        refresh token is spent by then, so a database that does not answer the periodic reload must not fail
        the response (the client's retry would be a replay, and revoke the grant). The keys already loaded
        sign, and the next signature tries the reload again."""
        try:
            self.reload(now)
        except Exception as exc:
            if not unavailable(exc):
                raise
            logger.warning(
                "provider: the signing keys could not be read again (%s); the loaded ones sign", type(exc).__name__
            )
        key = self.current(now, ACCESS_TOKEN_ALG if typ == AT_TYP else ID_TOKEN_ALG)
        alg = str(key.alg)
        header = {"alg": alg, "kid": key.kid, "typ": typ}
        return jwt.encode(header, claims, key, algorithms=[alg])

    def _decode(self, token: str, now: int | None) -> jwt.Token:
        if now is not None and _kid(token) not in {key.kid for key in self.keys}:
            self.reload(now, every=KEY_RELOAD_MIN)  # another instance may have published it
        # Either algorithm (an access token signed before the ES256 key's time came is RS256), but each key
        # only with its own: joserfc picks the key by kid and refuses a header alg other than the key's
        # (tests/provider/test_signing_algorithms.py).
        return jwt.decode(token, self.key_set, algorithms=list(SIGNING_ALGS))

    def _signed_access_token(self, token: str, now: int) -> dict[str, Any]:
        """The claims of an access token signed by one of the ring's keys, its typ at+jwt; else InvalidToken."""
        key_set = self.key_set
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] is key_set:
            return remembered[0]
        try:
            decoded = self._decode(token, now)
        except UNREADABLE_JWT:
            raise InvalidToken("the access token is malformed or its signature is invalid") from None
        # RFC 9068 §4: the resource server must check typ is at+jwt (no id_token as access token).
        if str(decoded.header.get("typ", "")).lower() not in (AT_TYP, "application/at+jwt"):
            raise InvalidToken("not an access token")
        with self._verified_lock:
            self._verified.pop(token, None)
            if len(self._verified) >= VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            # The key set read before decoding: if a reload came in between, the entry is simply not used.
            self._verified[token] = (decoded.claims, key_set)
        return decoded.claims

    def verify_access_token(self, token: str, issuer: str, audience: str, now: int) -> dict[str, Any]:
        """RFC 9068 §4 validation; raises InvalidToken with a safe description."""
        claims = dict(self._signed_access_token(token, now))
        registry = jwt.JWTClaimsRegistry(
            now=now,
            iss={"essential": True, "value": issuer},
            # RFC 9068 §4: the audience must name this resource server (docs/SECURITY.md P19).
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError:
            raise InvalidToken("the access token is expired or not for this API") from None
        return claims

    def verify_id_token_hint(self, token: str) -> dict[str, Any] | None:
        """RP-Initiated Logout §2: an id_token signed by one of our keys → its claims, else None.
        Its claims (iss, aud naming a client, sub) are judged by core/logout.py; exp is not checked (§2
        accepts expired ones), and an access token's aud names no client."""
        try:
            decoded = jwt.decode(token, self.key_set, algorithms=[ID_TOKEN_ALG])
        except UNREADABLE_JWT:
            # docs/SECURITY.md P25: forged, altered or unsigned (alg none is not on the list).
            return None
        # docs/SECURITY.md P25: an id_token, not an access token whose audience happens to name a client.
        if str(decoded.header.get("typ", "")).lower() in (AT_TYP, "application/at+jwt"):
            return None
        return decoded.claims


def _kid(token: str) -> str | None:
    """The kid in a compact JWS header, unverified (only to decide whether to reload the keys)."""
    encoded = token.split(".", 1)[0]
    # docs/SECURITY.md P22: a header joserfc would refuse is not parsed here either (JSON nested a thousand
    # deep, under 3 KB, raised RecursionError: a 500 for anyone who sent it as a Bearer token).
    if len(encoded) > MAX_HEADER:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=="))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
