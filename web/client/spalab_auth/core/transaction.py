"""One authorization attempt: the values the shell keeps in sessionStorage (keyed by
``state``) between sending the user to the provider and reading the callback."""

import json

from .config import ClientConfig
from .encoding import b64url_encode
from .errors import ConfigurationError, InvalidTransaction
from .pkce import VERIFIER_ENTROPY_BYTES, generate_code_verifier
from .session import masked

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Callable
except ImportError:
    pass

# RFC 9700 §4.7.1 / RFC 6749 §10.10: at least 128 bits; 256 are drawn by default.
MIN_ENTROPY_BYTES = 16
DEFAULT_ENTROPY_BYTES = 32
# Long enough for a slow login, short enough that a stale tab cannot finish a flow.
MAX_AGE_SECONDS = 600

CODE = "code"
IMPLICIT_TOKEN = "token"
IMPLICIT_ID_TOKEN_TOKEN = "id_token token"
RESPONSE_TYPES = (CODE, IMPLICIT_TOKEN, IMPLICIT_ID_TOKEN_TOKEN)
RESPONSE_MODES = ("query", "fragment")

_FIELDS = (
    "state",
    "nonce",
    "code_verifier",
    "response_type",
    "response_mode",
    "redirect_uri",
    "issuer",
    "client_id",
    "scope",
    "created_at",
    "max_age",
)
_OPTIONAL = ("nonce", "code_verifier", "max_age")


def random_value(entropy: bytes) -> str:
    """A ``state`` or ``nonce`` from caller-supplied random octets (≥ 16, i.e. 128 bits)."""
    # RFC 6749 §10.10: guessing probability ≤ 2^-128 needs at least 16 random octets
    if len(entropy) < MIN_ENTROPY_BYTES:
        raise ConfigurationError("need at least 16 random bytes", reason="insufficient_entropy")
    return b64url_encode(entropy)


class Transaction:
    """State, nonce and PKCE verifier of one authorization request, plus what was asked for."""

    __slots__ = _FIELDS

    def __init__(
        self,
        state: str,
        nonce: "str | None",
        code_verifier: "str | None",
        response_type: str,
        response_mode: str,
        redirect_uri: str,
        issuer: str,
        client_id: str,
        scope: str,
        created_at: float,
        max_age: "int | None" = None,
    ) -> None:
        self.state = state
        self.nonce = nonce
        self.code_verifier = code_verifier
        self.response_type = response_type
        self.response_mode = response_mode
        self.redirect_uri = redirect_uri
        self.issuer = issuer
        self.client_id = client_id
        self.scope = scope
        self.created_at = created_at
        # OIDC Core §3.1.2.1: the oldest sign-in at the provider this request accepts, in seconds (0: a sign-in
        # for this request, as prompt=login asks), checked against the id_token's auth_time; None: any
        self.max_age = max_age

    @property
    def signed_in_since(self) -> "float | None":
        """With max_age (prompt=login: 0), the time the id_token's auth_time must not be before."""
        return None if self.max_age is None else self.created_at - self.max_age

    @property
    def is_code_flow(self) -> bool:
        return self.response_type == CODE

    def is_expired(self, now: float, max_age: float = MAX_AGE_SECONDS) -> bool:
        return now - self.created_at > max_age or now < self.created_at - 60

    def to_json(self) -> str:
        return json.dumps({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_json(cls, text: str) -> "Transaction":
        """Rehydrate from sessionStorage; anything malformed raises InvalidTransaction."""
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidTransaction("stored transaction is not JSON", reason="malformed") from None
        if not isinstance(data, dict):
            raise InvalidTransaction("stored transaction is not an object", reason="malformed")
        for name in _FIELDS:
            _check_field(data, name)
        return cls(
            data["state"],
            data.get("nonce"),
            data.get("code_verifier"),
            data["response_type"],
            data["response_mode"],
            data["redirect_uri"],
            data["issuer"],
            data["client_id"],
            data["scope"],
            data["created_at"],
            data.get("max_age"),
        )

    def __repr__(self) -> str:
        return "Transaction(state=%s, response_type=%r, response_mode=%r, issuer=%r)" % (
            masked(self.state),
            self.response_type,
            self.response_mode,
            self.issuer,
        )


def _check_field(data: "dict[str, Any]", name: str) -> None:
    value = data.get(name)
    if value is None and name in _OPTIONAL:
        return
    expected_number = name in ("created_at", "max_age")
    ok = _is_number(value) if expected_number else isinstance(value, str)
    if not ok:
        raise InvalidTransaction("stored transaction field", reason="malformed", parameter=name)


def _is_number(value: object) -> bool:
    # bool is an int on CPython but not on MicroPython: exclude it everywhere.
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def new_transaction(
    client: ClientConfig,
    response_type: str,
    response_mode: str,
    random_bytes: "Callable[[int], bytes]",
    now: float,
) -> Transaction:
    """Start an authorization attempt; ``random_bytes(n)`` is the shell's CSPRNG."""
    _check_flow(response_type, response_mode)
    state = random_value(_draw(random_bytes, DEFAULT_ENTROPY_BYTES))
    nonce = random_value(_draw(random_bytes, DEFAULT_ENTROPY_BYTES))
    verifier = None
    if response_type == CODE:
        verifier = generate_code_verifier(_draw(random_bytes, VERIFIER_ENTROPY_BYTES))
    return Transaction(
        state,
        nonce,
        verifier,
        response_type,
        response_mode,
        client.redirect_uri,
        client.issuer,
        client.client_id,
        client.scope,
        now,
    )


def _check_flow(response_type: str, response_mode: str) -> None:
    if response_type not in RESPONSE_TYPES:
        raise ConfigurationError(
            "unsupported response_type", reason="unsupported_response_type", parameter="response_type"
        )
    if response_mode not in RESPONSE_MODES:
        raise ConfigurationError(
            "unsupported response_mode", reason="unsupported_response_mode", parameter="response_mode"
        )
    # OAuth 2.0 Multiple Response Types §5 / RFC 9700 §2.1.2: tokens must never travel in the query
    if response_type != CODE and response_mode != "fragment":
        raise ConfigurationError(
            "implicit needs the fragment", reason="implicit_requires_fragment", parameter="response_mode"
        )


def _draw(random_bytes: "Callable[[int], bytes]", count: int) -> bytes:
    value = bytes(random_bytes(count))
    # A short read from the CSPRNG would silently weaken state, nonce or verifier.
    if len(value) != count:
        raise ConfigurationError("random source returned too few bytes", reason="insufficient_entropy")
    return value
