"""Reading the authorization response from the redirect URL (RFC 6749 §4.1.2 and
§4.2.2, RFC 9207, OIDC Core §3.2.2.5), in the order that keeps it safe:

1. only the URL component the transaction asked for (C4);
2. ``state`` (C1), then the redirect URI it arrived at and ``iss`` (C2);
3. only then ``error`` (C9), the code, or the tokens.
"""

from .discovery import ProviderMetadata
from .encoding import parse_query
from .errors import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidTransaction,
    IssuerMismatch,
    OAuthClientError,
    ResponseModeMismatch,
    StateMismatch,
)
from .transaction import Transaction
from .urls import endpoint_of, split_url

# Names that only an authorization response carries; seeing one in the wrong place
# means the response was tampered with or mis-routed.
RESPONSE_PARAMETERS = (
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "token_type",
    "id_token",
    "expires_in",
)


class CallbackResult:
    """The checked authorization response; ``checks`` lists what ran, in order."""

    __slots__ = (
        "response_type",
        "state",
        "iss",
        "code",
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "id_token",
        "checks",
    )

    def __init__(self, response_type: str, params: "dict[str, str]", checks: "list[tuple[str, str]]") -> None:
        self.response_type = response_type
        self.state = params.get("state")
        self.iss = params.get("iss")
        self.code = params.get("code")
        self.access_token = params.get("access_token")
        self.token_type = params.get("token_type")
        expires_in = params.get("expires_in")
        self.expires_in = int(expires_in) if expires_in is not None else None
        self.scope = params.get("scope")
        self.id_token = params.get("id_token")
        self.checks = checks

    def __repr__(self) -> str:
        names = [name for name in ("code", "access_token", "id_token") if getattr(self, name)]
        return "CallbackResult(%r, carries=%r, checks=%r)" % (self.response_type, names, self.checks)


def find_callback_states(url: str) -> "list[str]":
    """Every ``state`` value in the query and fragment, so the shell can look up the
    stored transaction before it knows which component to trust."""
    _, query, fragment = split_url(url)
    return [value for name, value in parse_query(query) + parse_query(fragment) if name == "state"]


def parse_callback(
    url: str, transaction: Transaction, metadata: ProviderMetadata, now: "float | None" = None
) -> CallbackResult:
    """Validate the redirect URL against ``transaction``; raise a typed error on any doubt.

    With ``now``, a transaction older than ``MAX_AGE_SECONDS`` is refused as well.
    """
    checks = []  # type: list[tuple[str, str]]
    params = read_response_parameters(url, transaction.response_mode, checks)
    check_state(params, transaction, checks)
    if now is not None:
        check_transaction_age(transaction, now, checks)
    check_redirect_uri(url, transaction, checks)
    check_iss(params, metadata, checks)
    check_error(params, checks)
    if transaction.response_type == "code":
        check_code_response(params, checks)
    else:
        check_implicit_response(params, transaction, checks)
    return CallbackResult(transaction.response_type, params, checks)


def _reject(
    error: "type[OAuthClientError]",
    reason: str,
    parameter: "str | None",
    checks: "list[tuple[str, str]]",
    step: str,
) -> OAuthClientError:
    """An error of class ``error`` carrying the checks so far plus the failed ``step``."""
    failed = checks + [(step, "failed")]
    return error(reason.replace("_", " "), reason=reason, parameter=parameter, checks=failed)


def read_response_parameters(url: str, response_mode: str, checks: "list[tuple[str, str]]") -> "dict[str, str]":
    """The parameters of the requested component, after the component rules (C4)."""
    _, query, fragment = split_url(url)
    wanted, other = (query, fragment) if response_mode == "query" else (fragment, query)
    pairs = parse_query(wanted)
    names = [name for name, _ in pairs]
    stray = [name for name, _ in parse_query(other) if name in RESPONSE_PARAMETERS]
    both = [name for name in stray if name in names]
    # OAuth 2.0 Multiple Response Types §2.1: parameters arrive only in the requested component
    if both:
        raise _reject(ResponseModeMismatch, "parameter_in_both_components", both[0], checks, "response_mode")
    if stray:
        raise _reject(ResponseModeMismatch, "wrong_component", stray[0], checks, "response_mode")
    for name in names:
        # RFC 6749 §3.1: parameters must not be included more than once
        if names.count(name) > 1:
            raise _reject(InvalidCallback, "repeated_parameter", name, checks, "response_mode")
    checks.append(("response_mode", "ok"))
    return dict(pairs)


def check_state(params: "dict[str, str]", transaction: Transaction, checks: "list[tuple[str, str]]") -> None:
    # RFC 6749 §4.1.2: state must be present when the request carried one (C1)
    if "state" not in params:
        raise _reject(StateMismatch, "missing_state", "state", checks, "state")
    # RFC 6749 §10.12: a different state is a forged or cross-site response (C1)
    if params["state"] != transaction.state:
        raise _reject(StateMismatch, "state_mismatch", "state", checks, "state")
    checks.append(("state", "ok"))


def check_transaction_age(transaction: Transaction, now: float, checks: "list[tuple[str, str]]") -> None:
    # RFC 9700 §4.7.1: state and verifier are one-time values of a recent request
    if transaction.is_expired(now):
        raise _reject(InvalidTransaction, "expired", None, checks, "transaction_age")
    checks.append(("transaction_age", "ok"))


def check_redirect_uri(url: str, transaction: Transaction, checks: "list[tuple[str, str]]") -> None:
    # RFC 9700 §4.4.2.2 (mix-up, C2): the response must arrive at the redirect URI its request named. An app
    # with several providers gives each its own redirect URI, and a provider that sends no iss can then not
    # route another provider's response to it: a code one provider issued never goes to the other's token
    # endpoint with this sign-in's verifier.
    if endpoint_of(url) != endpoint_of(transaction.redirect_uri):
        raise _reject(InvalidCallback, "wrong_redirect_uri", None, checks, "redirect_uri")
    checks.append(("redirect_uri", "ok"))


def check_iss(params: "dict[str, str]", metadata: ProviderMetadata, checks: "list[tuple[str, str]]") -> None:
    iss = params.get("iss")
    # RFC 9207 §2.4: a provider that advertises iss must send it, on success and error (C2)
    if iss is None and metadata.authorization_response_iss_parameter_supported:
        raise _reject(IssuerMismatch, "missing_iss", "iss", checks, "iss")
    # RFC 9207 §2.4: iss, when present, must equal the discovered issuer exactly (C2)
    if iss is not None and iss != metadata.issuer:
        raise _reject(IssuerMismatch, "iss_mismatch", "iss", checks, "iss")
    checks.append(("iss", "ok" if iss is not None else "skipped"))


def check_error(params: "dict[str, str]", checks: "list[tuple[str, str]]") -> None:
    # RFC 6749 §4.1.2.1: an error response, surfaced only now that state and iss hold (C9)
    if "error" in params:
        raise AuthorizationDenied(
            "provider returned an error",
            error=params["error"],
            error_description=params.get("error_description"),
            error_uri=params.get("error_uri"),
            parameter="error",
            checks=checks + [("error", "failed")],
        )
    checks.append(("error", "ok"))


def check_code_response(params: "dict[str, str]", checks: "list[tuple[str, str]]") -> None:
    # RFC 6749 §4.1.2: a successful code response carries the code
    if not params.get("code"):
        raise _reject(InvalidCallback, "missing_code", "code", checks, "code")
    for name in ("access_token", "id_token", "token_type", "expires_in"):
        # RFC 6749 §4.1.2: response_type=code returns no tokens; extra ones are injected
        if name in params:
            raise _reject(InvalidCallback, "unexpected_parameter", name, checks, "code")
    checks.append(("code", "ok"))


def check_implicit_response(
    params: "dict[str, str]", transaction: Transaction, checks: "list[tuple[str, str]]"
) -> None:
    # RFC 6749 §4.2.2: the implicit grant never returns a code
    if "code" in params:
        raise _reject(InvalidCallback, "unexpected_parameter", "code", checks, "tokens")
    # RFC 6749 §4.2.2: access_token and token_type are required
    for name in ("access_token", "token_type"):
        if not params.get(name):
            raise _reject(InvalidCallback, "missing_" + name, name, checks, "tokens")
    # OIDC Core §3.2.2.5: response_type "id_token token" also returns an id_token
    if "id_token" in transaction.response_type and not params.get("id_token"):
        raise _reject(InvalidCallback, "missing_id_token", "id_token", checks, "tokens")
    # RFC 6750 §4 / RFC 6749 §7.1: this client only uses Bearer tokens
    if params["token_type"].lower() != "bearer":
        raise _reject(InvalidCallback, "unsupported_token_type", "token_type", checks, "tokens")
    # RFC 6749 §4.2.2: expires_in is a lifetime in whole seconds
    if "expires_in" in params and not _is_digits(params["expires_in"]):
        raise _reject(InvalidCallback, "invalid_expires_in", "expires_in", checks, "tokens")
    checks.append(("tokens", "ok"))


def _is_digits(text: str) -> bool:
    # str.isdigit() accepts non-ASCII digits that int() then rejects.
    if not text or len(text) > 12:
        return False
    for char in text:
        if char not in "0123456789":
            return False
    return True
