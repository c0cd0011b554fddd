"""The authorization endpoint's decisions, value in, value out (RFC 6749 §4.1, §4.2; OIDC Core §3)."""

import pytest

from spalab.provider.core import authorization as az
from spalab.provider.core.errors import OAuthError, PageError
from spalab.provider.core.records import Client

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
SPA = Client("spa", ("http://127.0.0.1:8000/callback",), allow_implicit=False)
LEGACY = Client("legacy", ("http://127.0.0.1:8000/cb?x=1",), allow_implicit=True, scopes=("openid", "profile"))
CONFIDENTIAL = Client("server", ("https://rp.example/cb",), client_secret="s3cret")
CLIENTS = {c.client_id: c for c in (SPA, LEGACY, CONFIDENTIAL)}
GOOD = {
    "response_type": "code",
    "scope": "openid profile",
    "state": "xyz",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
}
IMPLICIT = {"response_type": "id_token token", "scope": "openid", "nonce": "n-1"}


def _request(client: Client, **params: str) -> az.AuthorizationRequest:
    return az.validate_authorization_request(params, client, client.redirect_uris[0])


@pytest.mark.parametrize(
    "params",
    [
        {},  # unknown client: nothing to redirect to
        {"client_id": "nobody", "redirect_uri": SPA.redirect_uris[0]},
        {"client_id": "spa"},  # OIDC Core §3.1.2.1: redirect_uri required
        {"client_id": "spa", "redirect_uri": "http://127.0.0.1:8000/callback/"},  # exact match only
        {"client_id": "spa", "redirect_uri": "http://127.0.0.1:8000/CALLBACK"},
        {"client_id": "spa", "redirect_uri": "http://127.0.0.1:8000/callback?x=1"},
    ],
)
def test_stage_one_refuses_with_a_page(params: dict[str, str]) -> None:
    """RFC 6749 §4.1.2.1 / RFC 9700 §4.1.3: unknown client or unregistered redirect URI: a page, no redirect."""
    with pytest.raises(PageError):
        az.resolve_client(params, CLIENTS)


def test_stage_one_accepts_a_registered_uri() -> None:
    """RFC 9700 §2.1: the exact registered string is accepted."""
    assert az.resolve_client({"client_id": "spa", "redirect_uri": SPA.redirect_uris[0]}, CLIENTS) == (
        SPA,
        SPA.redirect_uris[0],
    )


@pytest.mark.parametrize(
    "client, params, error",
    [
        (SPA, {**GOOD, "response_type": None}, "invalid_request"),  # RFC 6749 §3.1.1
        (SPA, {**GOOD, "response_type": "code id_token"}, "unsupported_response_type"),
        (SPA, {**GOOD, "response_type": "token"}, "unauthorized_client"),  # RFC 9700 §2.1.2: no opt-in
        (SPA, {**GOOD, "response_mode": "form_post"}, "invalid_request"),
        (LEGACY, {**IMPLICIT, "response_mode": "query"}, "invalid_request"),  # tokens never in the query
        (SPA, {**GOOD, "scope": None}, "invalid_scope"),  # RFC 6749 §3.3: no default scope
        (SPA, {**GOOD, "scope": "openid  profile"}, "invalid_scope"),  # double space
        (SPA, {**GOOD, "scope": "openid admin"}, "invalid_scope"),
        (LEGACY, {**GOOD, "scope": "openid email"}, "invalid_scope"),  # not this client's scope
        (LEGACY, {**IMPLICIT, "nonce": None}, "invalid_request"),  # OIDC Core §3.2.2.1
        (LEGACY, {**IMPLICIT, "scope": "profile"}, "invalid_scope"),  # id_token needs openid
        (SPA, {**GOOD, "code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # RFC 9700 §2.1.1
        (LEGACY, {**IMPLICIT, "code_challenge": CHALLENGE}, "invalid_request"),  # PKCE is for codes
        (LEGACY, {**IMPLICIT, "code_challenge_method": "S256"}, "invalid_request"),
        (SPA, {**GOOD, "prompt": "select_account"}, "invalid_request"),
    ],
)
def test_stage_two_refuses_with_the_oauth_error(client: Client, params: dict[str, str | None], error: str) -> None:
    """RFC 6749 §4.1.2.1: each invalid request gets its error code, sent back on the redirect URI."""
    given = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(OAuthError) as caught:
        az.validate_authorization_request(given, client, client.redirect_uris[0])
    assert caught.value.error == error


@pytest.mark.parametrize(
    "client, params, response_type, mode",
    [
        (SPA, GOOD, "code", "query"),
        (CONFIDENTIAL, {**GOOD, "code_challenge": None, "code_challenge_method": None}, "code", "query"),
        (LEGACY, IMPLICIT, "id_token token", "fragment"),
        (LEGACY, {**IMPLICIT, "response_type": "token id_token"}, "id_token token", "fragment"),  # any order
        (LEGACY, {"response_type": "token", "scope": "profile"}, "token", "fragment"),
        (SPA, {**GOOD, "response_mode": "fragment"}, "code", "fragment"),
    ],
)
def test_stage_two_accepts(client: Client, params: dict[str, str | None], response_type: str, mode: str) -> None:
    """OAuth 2.0 Multiple Response Types §2.1: the response type normalised, the mode defaulted or kept."""
    request = _request(client, **{k: v for k, v in params.items() if v is not None})
    assert (request.response_type, request.response_mode) == (response_type, mode)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"response_type": "code", "state": "s"}, "http://c/cb?error=access_denied&state=s&iss=https%3A%2F%2Fidp"),
        ({"response_type": "token"}, "http://c/cb#error=access_denied&iss=https%3A%2F%2Fidp"),
        (
            {"response_type": "token id_token", "response_mode": "query"},
            "http://c/cb#error=access_denied&iss=https%3A%2F%2Fidp",
        ),
        (
            {"response_type": "code", "response_mode": "fragment"},
            "http://c/cb#error=access_denied&iss=https%3A%2F%2Fidp",
        ),
        ({"response_type": "code", "response_mode": "bogus"}, "http://c/cb?error=access_denied&iss=https%3A%2F%2Fidp"),
        ({"response_type": "code id_token"}, "http://c/cb#error=access_denied&iss=https%3A%2F%2Fidp"),
    ],
)
def test_error_redirect(params: dict[str, str], expected: str) -> None:
    """RFC 6749 §4.1.2.1 / RFC 9207 §2: error, state and iss; never a token-type answer in the query."""
    from spalab.provider.core.errors import AccessDenied

    assert az.error_redirect("http://c/cb", params, AccessDenied(), "https://idp") == expected


def test_build_redirect_keeps_the_registered_query() -> None:
    """RFC 6749 §3.1.2: the registered URI's own query component is kept."""
    assert az.build_redirect("http://c/cb?x=1", "query", {"code": "c", "state": None}) == "http://c/cb?x=1&code=c"


CODE_REQ = _request(SPA, **GOOD)
IMPLICIT_REQ = _request(LEGACY, **IMPLICIT)


@pytest.mark.parametrize(
    "request_, consented, implicit_approved, needed",
    [
        (CODE_REQ, {"openid", "profile"}, False, False),
        (CODE_REQ, {"openid", "profile", "email"}, False, False),
        (CODE_REQ, {"openid"}, True, True),  # a scope not yet approved
        (_request(SPA, **{**GOOD, "prompt": "consent"}), {"openid", "profile"}, True, True),  # OIDC Core §3.1.2.4
        (IMPLICIT_REQ, {"openid"}, False, True),  # P13: code-flow approval does not approve tokens in the URL
        (IMPLICIT_REQ, {"openid"}, True, False),
    ],
)
def test_needs_consent(
    request_: az.AuthorizationRequest, consented: set[str], implicit_approved: bool, needed: bool
) -> None:
    """OIDC Core §3.1.2.4 / docs/SECURITY.md P13: consent is asked for new scopes, prompt=consent and
    the implicit flow."""
    assert az.needs_consent(request_, consented, implicit_approved) is needed


APPROVED = az.PriorConsent({"openid", "profile"}, False)
NOTHING = az.PriorConsent(set(), False)  # signed in, nothing approved before


@pytest.mark.parametrize(
    "prompt, prior, step",
    [
        (None, None, az.SignIn),  # nobody signed in
        (None, APPROVED, az.Issue),
        (None, az.PriorConsent({"openid"}, False), az.Consent),
        (None, NOTHING, az.Consent),
        ("login", APPROVED, az.SignIn),  # OIDC Core §3.1.2.1: prompt=login forces sign-in
        ("consent", APPROVED, az.Consent),
        ("none", APPROVED, az.Issue),
    ],
)
def test_next_step(prompt: str | None, prior: az.PriorConsent | None, step: type) -> None:
    """OIDC Core §3.1.2.1: sign in, ask consent or issue, by session, prior consent and prompt."""
    params = {**GOOD, "client_id": "spa"} | ({"prompt": prompt} if prompt else {})
    request = _request(SPA, **params)
    assert type(az.next_step(request, params, prior)) is step


@pytest.mark.parametrize(
    "prior, error",
    [(None, "login_required"), (az.PriorConsent({"openid"}, False), "consent_required")],
)
def test_next_step_prompt_none_never_shows_a_page(prior: az.PriorConsent | None, error: str) -> None:
    """OIDC Core §3.1.2.6: prompt=none answers login_required / consent_required instead of a page."""
    params = {**GOOD, "prompt": "none"}
    with pytest.raises(OAuthError) as caught:
        az.next_step(_request(SPA, **params), params, prior)
    assert caught.value.error == error


@pytest.mark.parametrize(
    "prompt, kept",
    [("login", None), ("consent", "consent"), (None, None)],
)
def test_sign_in_resume_drops_only_prompt_login(prompt: str | None, kept: str | None) -> None:
    """OIDC Core §3.1.2.1: after sign-in prompt=login is satisfied; other prompts and all else survive."""
    params = {**GOOD} | ({"prompt": prompt} if prompt else {})
    step = az.next_step(_request(SPA, **params), params, None)
    assert isinstance(step, az.SignIn)
    assert step.resume.get("prompt") == kept
    assert {k: v for k, v in step.resume.items() if k != "prompt"} == GOOD


@pytest.mark.parametrize(
    "response_type, prior, approved",
    [
        ("code", NOTHING, az.PriorConsent({"openid", "profile"}, False)),
        ("code", az.PriorConsent({"email"}, True), az.PriorConsent({"email", "openid", "profile"}, True)),
        ("token", NOTHING, az.PriorConsent({"openid", "profile"}, True)),
    ],
)
def test_approve_adds_the_scopes_and_marks_implicit_only_for_implicit(
    response_type: str, prior: az.PriorConsent, approved: az.PriorConsent
) -> None:
    """docs/SECURITY.md P13: allowing the code flow never approves the legacy implicit flow."""
    params = {**GOOD, "scope": "openid profile", "response_type": response_type}
    client = SPA
    if response_type != "code":
        params, client = {k: v for k, v in params.items() if not k.startswith("code_challenge")}, LEGACY
    assert az.approve(_request(client, **params), prior) == approved
