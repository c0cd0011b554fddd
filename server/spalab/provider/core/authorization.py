"""The authorization endpoint's protocol core (RFC 6749 §4.1, §4.2; OIDC Core §3).

Two stages, because they fail differently (RFC 6749 §4.1.2.1): until the client
and redirect URI are known good, errors are pages and nothing redirects; after
that, errors go back to the client on its redirect URI with `state` and `iss`.
"""

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlencode

from . import dpop, pkce
from .errors import (
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    OAuthError,
    PageError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from .records import Client

CODE = "code"
TOKEN = "token"
ID_TOKEN_TOKEN = "id_token token"
RESPONSE_TYPES = (CODE, TOKEN, ID_TOKEN_TOKEN)
RESPONSE_MODES = ("query", "fragment")
PROMPTS = ("none", "login", "consent")
_SECONDS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    response_type: str
    response_mode: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: str | None
    dpop_jkt: str | None = None  # RFC 9449 §10: the key the code is bound to
    max_age: int | None = None  # OIDC Core §3.1.2.1: the oldest sign-in the client accepts, in seconds

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def resolve_client(params: dict[str, str], clients: dict[str, Client]) -> tuple[Client, str]:
    """Stage 1: find the client and match its redirect URI, or fail with a page."""
    client = clients.get(params.get("client_id", ""))
    # RFC 6749 §4.1.2.1: an unknown client must not be redirected to.
    if client is None:
        raise PageError("Unknown application", "The client_id in this sign-in link is not registered.")
    redirect_uri = params.get("redirect_uri")
    # OIDC Core §3.1.2.1: redirect_uri is required (and we never guess one).
    if redirect_uri is None:
        raise PageError("Missing redirect URI", "This sign-in link has no redirect_uri.")
    # RFC 9700 §2.1 and §4.1.3: exact string match against a registered URI.
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            "Redirect URI not registered",
            "The redirect_uri in this sign-in link does not exactly match any URI registered for this application.",
        )
    return client, redirect_uri


def default_response_mode(response_type: str | None) -> str:
    # OAuth 2.0 Multiple Response Types §2.1: tokens default to the fragment, all else to the query;
    # §1: values in any order, so an unsupported "code id_token" still gets its error in the fragment.
    values = (response_type or "").split(" ")
    return "fragment" if "token" in values or "id_token" in values else "query"


def validate_authorization_request(params: dict[str, str], client: Client, redirect_uri: str) -> AuthorizationRequest:
    """Stage 2: everything else. Raises OAuthError, sent back on the redirect URI."""
    response_type = params.get("response_type")
    # RFC 6749 §3.1.1: response_type is required.
    if response_type is None:
        raise InvalidRequest("response_type is required")
    # RFC 6749 §3.1.1: the order of space-delimited values does not matter.
    response_type = " ".join(sorted(response_type.split(" ")))
    if response_type not in RESPONSE_TYPES:
        raise UnsupportedResponseType(f"response_type must be one of: {', '.join(RESPONSE_TYPES)}")
    # RFC 9700 §2.1.2: implicit only for clients that opted in to the legacy flow.
    if response_type != CODE and not client.allow_implicit:
        raise UnauthorizedClient("this client may not use the implicit flow")
    response_mode = params.get("response_mode", default_response_mode(response_type))
    if response_mode not in RESPONSE_MODES:
        raise InvalidRequest("response_mode must be query or fragment")
    # OAuth 2.0 Multiple Response Types §5: tokens must never travel in the query.
    if response_type != CODE and response_mode == "query":
        raise InvalidRequest("tokens are returned in the fragment only")
    scopes = _validate_scope(params.get("scope"), client)
    nonce = params.get("nonce")
    # OIDC Core §3.2.2.1: implicit requests that return an id_token require a nonce.
    if response_type == ID_TOKEN_TOKEN and nonce is None:
        raise InvalidRequest("nonce is required when an id_token is returned from the authorization endpoint")
    if response_type == ID_TOKEN_TOKEN and "openid" not in scopes:
        raise InvalidScope("response_type id_token requires the openid scope")
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if response_type == CODE:
        pkce.validate_code_challenge(challenge, method, public_client=not client.is_confidential)
    elif challenge is not None or method is not None:
        raise InvalidRequest("PKCE applies to the code flow only")
    prompt = params.get("prompt")
    if prompt is not None and prompt not in PROMPTS:
        raise InvalidRequest("prompt must be none, login or consent")
    jkt = dpop.validate_dpop_jkt(params.get("dpop_jkt"), response_type)
    max_age = params.get("max_age")
    # OIDC Core §3.1.2.1: a number of seconds (ten digits at most: three centuries)
    if max_age is not None and not _SECONDS.fullmatch(max_age):
        raise InvalidRequest("max_age must be a number of seconds")
    return AuthorizationRequest(
        client,
        redirect_uri,
        response_type,
        response_mode,
        scopes,
        params.get("state"),
        nonce,
        challenge,
        method,
        prompt,
        jkt,
        int(max_age) if max_age is not None else None,
    )


def needs_consent(request: AuthorizationRequest, consented: set[str], implicit_approved: bool) -> bool:
    """Whether the consent page must be shown, given what the user approved for this client before."""
    # OIDC Core §3.1.2.4: prompt=consent asks again whatever was approved.
    if request.prompt == "consent":
        return True
    # RFC 9700 §2.1.2 / docs/SECURITY.md P13: the legacy implicit flow is approved on its own, with its warning;
    # approving the code flow does not approve tokens in the URL.
    if request.response_type != CODE and not implicit_approved:
        return True
    return not set(request.scopes) <= consented


class PriorConsent(NamedTuple):
    """What the signed-in user approved for this client before."""

    scopes: set[str]
    implicit: bool


def approve(request: AuthorizationRequest, prior: PriorConsent) -> PriorConsent:
    """The consent to keep once the user allowed `request`: its scopes added, and the legacy implicit
    flow marked approved only by an implicit request (docs/SECURITY.md P13)."""
    return PriorConsent(prior.scopes | set(request.scopes), prior.implicit or request.response_type != CODE)


@dataclass(frozen=True)
class SignIn:
    """Send the user to sign in, then back to /authorize with `resume` as its parameters."""

    resume: dict[str, str]


@dataclass(frozen=True)
class Consent:
    """Show the consent page."""


@dataclass(frozen=True)
class Issue:
    """Answer the client now: a code or, in the legacy flow, tokens."""


Step = SignIn | Consent | Issue


def next_step(
    request: AuthorizationRequest, params: dict[str, str], prior: PriorConsent | None, signed_in_for: int = 0
) -> Step:
    """What /authorize does with a valid request; raises LoginRequired or ConsentRequired for
    prompt=none. `prior` is what the signed-in user approved before, None when nobody is signed in;
    `signed_in_for`: the seconds since that user signed in."""
    # OIDC Core §3.1.2.1: max_age asks for a sign-in again when the last one is older.
    too_old = request.max_age is not None and signed_in_for > request.max_age
    if prior is None or request.prompt == "login" or too_old:
        # OIDC Core §3.1.2.6: prompt=none must not show a page.
        if request.prompt == "none":
            raise LoginRequired("the user is not signed in" if prior is None else "the user must sign in again")
        # OIDC Core §3.1.2.1: sign-in happens now, so prompt=login and max_age are satisfied (the id_token
        # names its time, auth_time, which the client checks); any other prompt must survive it.
        return SignIn({k: v for k, v in params.items() if not (k == "prompt" and v == "login") and k != "max_age"})
    if needs_consent(request, prior.scopes, prior.implicit):
        # OIDC Core §3.1.2.6: prompt=none must not show the consent page either.
        if request.prompt == "none":
            raise ConsentRequired("the user has not approved these scopes")
        return Consent()
    return Issue()


def frame_ancestors(request: AuthorizationRequest | None) -> tuple[str, ...]:
    """The origins that may frame this /authorize response; () for none (docs/SECURITY.md P36).
    `request` is None when the request was not valid."""
    # OIDC Core §3.1.2.6: a prompt=none response is always a redirect to the client's registered
    # redirect URI, never a page, so it can be framed (silent renewal) by the origins the client
    # opted in with. Anything that may show a page (sign-in, consent, errors) never is.
    if request is None or request.prompt != "none":
        return ()
    return request.client.frame_origins


def _validate_scope(scope: str | None, client: Client) -> tuple[str, ...]:
    # RFC 6749 §3.3: this server has no default scope, so a request must name one.
    if not scope:
        raise InvalidScope("scope is required")
    requested = tuple(dict.fromkeys(scope.split(" ")))
    if "" in requested:
        raise InvalidScope("scope values are separated by single spaces")
    refused = [s for s in requested if s not in client.scopes]
    if refused:
        raise InvalidScope(f"scope not allowed for this client: {refused[0]}")
    return requested


def build_redirect(redirect_uri: str, response_mode: str, params: dict[str, str | None]) -> str:
    """Appends response parameters in the component the response mode names."""
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if response_mode == "fragment":
        return f"{redirect_uri}#{encoded}"
    # RFC 6749 §3.1.2: keep the registered URI's own query component.
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{encoded}"


def error_redirect(redirect_uri: str, params: dict[str, str], error: OAuthError, issuer: str) -> str:
    """RFC 6749 §4.1.2.1 / RFC 9207 §2: error, description, state and iss on the redirect URI."""
    response_type = params.get("response_type")
    mode = params.get("response_mode")
    default = default_response_mode(response_type)
    # Multiple Response Types §5: a response type that returns tokens (in any order of its values)
    # never answers in the query, not even with an error.
    if mode not in RESPONSE_MODES or (default == "fragment" and mode == "query"):
        mode = default
    return build_redirect(
        redirect_uri,
        mode,
        {
            "error": error.error,
            "error_description": error.description or None,
            "state": params.get("state"),
            "iss": issuer,
        },
    )
