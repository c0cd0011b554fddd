"""What the browser sees at the provider: /authorize, sign-in, consent, sign-out, end-session.

None of these routes sends CORS headers (RFC 9700 §2.6), and every page carries
the anti-framing and no-referrer headers (pages.PAGE_HEADERS).
"""

from collections.abc import Callable
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import params
from .context import Provider, provider_of
from .core import authorization, throttle
from .core.authorization import AuthorizationRequest
from .core.errors import AccessDenied, InvalidRequest, OAuthError, PageError
from .core.logout import EndSession, SessionUser, validate_end_session_request
from .keys import new_secret
from .pages import framing_headers, render
from .passwords import Busy, check_password

SCOPE_TEXT = {
    "openid": "confirm who you are",
    "profile": "see your name",
    "email": "see your email address",
    "offline_access": "stay signed in (refresh tokens)",
    "contacts.read": "read your contacts",
}
PENDING_LIFETIME = 600
DEVICE_COOKIE_LIFETIME = 365 * 24 * 3600
BUSY_RETRY_AFTER = 2


def _redirect(url: str, status_code: int, frame_origins: tuple[str, ...] = ()) -> Response:
    # docs/SECURITY.md P16: after a POST, 303 so the browser never re-sends the credentials.
    # docs/SECURITY.md P36: no redirect is frameable, except by `frame_origins` (a prompt=none answer).
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **framing_headers(frame_origins)}
    return RedirectResponse(url, status_code=status_code, headers=headers)


async def _session(request: Request, provider: Provider) -> tuple[str, str, int] | None:
    session_id = request.cookies.get(provider.cookie_name("session"))
    if not session_id:
        return None
    found = await provider.store.call_read(provider.store.get_session, session_id, provider.clock())
    return (session_id, *found) if found and _account_exists(provider, found[0]) else None


def _account_exists(provider: Provider, username: str) -> bool:
    """docs/SECURITY.md P39: a session of an account the config no longer has is no session."""
    return username in provider.config.users


async def _session_and_consent(
    request: Request, provider: Provider, client_id: str
) -> tuple[tuple[str, str, int] | None, authorization.PriorConsent | None]:
    """The browser's session and its account's consent for `client_id`, in one read."""
    session_id = request.cookies.get(provider.cookie_name("session"))
    if not session_id:
        return None, None
    store, now = provider.store, provider.clock()

    def unit() -> tuple[tuple[str, str, int] | None, authorization.PriorConsent | None]:
        found = store.get_session(session_id, now)
        if not found or not _account_exists(provider, found[0]):
            return None, None
        return (session_id, *found), authorization.PriorConsent(*store.consent(found[0], client_id))

    return await store.call_read(unit)


def _browser_id(request: Request, provider: Provider) -> str | None:
    return request.cookies.get(provider.cookie_name("csrf"))


def _single(multi: params.MultiParams, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """Each parameter once (RFC 6749 §3.1), or an error page naming the one that was not."""
    try:
        return params.single(multi, only=only)
    except InvalidRequest as exc:
        raise PageError("Invalid request", exc.description) from None


async def _page_params(request: Request) -> params.MultiParams:
    try:
        if request.method == "POST":
            return await params.form_params(request)
        return params.query_params(request)
    except InvalidRequest as exc:
        raise PageError("Invalid request", exc.description) from None


# --- /authorize ------------------------------------------------------------------


async def authorize(request: Request) -> Response:
    provider = provider_of(request)
    multi = await _page_params(request)
    stage_one = _single(multi, only=("client_id", "redirect_uri"))
    client, redirect_uri = authorization.resolve_client(stage_one, provider.config.clients)
    first = {name: values[0] for name, values in multi.items()}
    auth_request = None
    try:
        request_params = params.single(multi)
        auth_request = authorization.validate_authorization_request(request_params, client, redirect_uri)
        return await _continue(request, provider, auth_request, request_params)
    except OAuthError as exc:
        # RFC 6749 §4.1.2.1: the redirect URI is valid now, so errors go back to the client.
        url = authorization.error_redirect(redirect_uri, first, exc, provider.config.issuer)
        # docs/SECURITY.md P36: a valid prompt=none request's login_required is framed like its code.
        return _redirect(url, _after(request), authorization.frame_ancestors(auth_request))


def _after(request: Request) -> int:
    # docs/SECURITY.md P16: a redirect answering a POST is 303, so the body is never re-sent.
    return 303 if request.method == "POST" else 302


async def _continue(
    request: Request, provider: Provider, auth_request: AuthorizationRequest, request_params: dict[str, str]
) -> Response:
    session, prior = await _session_and_consent(request, provider, auth_request.client.client_id)
    signed_in_for = provider.clock() - session[2] if session is not None else 0
    step = authorization.next_step(auth_request, request_params, prior, signed_in_for)
    if isinstance(step, authorization.SignIn):
        resume = "/authorize?" + urlencode(step.resume)
        return _redirect("/login?next=" + quote(resume, safe=""), _after(request))
    assert session is not None
    session_id, username, auth_time = session
    if isinstance(step, authorization.Consent):
        return await _consent_page(provider, auth_request, request_params, session_id, username)
    frame_origins = authorization.frame_ancestors(auth_request)
    return await _issue(provider, auth_request, username, auth_time, _after(request), frame_origins)


async def _issue(
    provider: Provider,
    auth_request: AuthorizationRequest,
    username: str,
    auth_time: int,
    status: int,
    frame_origins: tuple[str, ...] = (),
) -> Response:
    response = await provider.store.call(
        provider.issuer.authorization_response, auth_request, username, auth_time, provider.clock()
    )
    url = authorization.build_redirect(auth_request.redirect_uri, auth_request.response_mode, response)
    return _redirect(url, status, frame_origins)


async def _consent_page(
    provider: Provider,
    auth_request: AuthorizationRequest,
    request_params: dict[str, str],
    session_id: str,
    username: str,
) -> Response:
    request_id = new_secret()
    await provider.store.call(
        provider.store.save_pending, request_id, session_id, request_params, provider.clock() + PENDING_LIFETIME
    )
    return render(
        "consent.html",
        client_name=auth_request.client.name,
        username=username,
        scopes=[(s, SCOPE_TEXT.get(s, s)) for s in auth_request.scopes],
        legacy=auth_request.response_type != authorization.CODE,
        redirect_uri=auth_request.redirect_uri,
        request_id=request_id,
        csrf_token=provider.csrf_token("consent", session_id, request_id),
    )


async def consent(request: Request) -> Response:
    provider = provider_of(request)
    form = await _form(request)
    session = await _session(request, provider)
    request_id = form.get("request_id", "")
    # docs/SECURITY.md P10: the consent form is bound to this session and this request.
    if session is None or not provider.check_csrf(form.get("csrf_token"), "consent", session[0], request_id):
        raise PageError("This form has expired", "Your sign-in session ended or the form did not come from this site.")
    stored = await provider.store.call(provider.store.take_pending, request_id, session[0], provider.clock())
    if stored is None:
        raise PageError("This request was already answered", "Start the sign-in again from the application.")
    client, redirect_uri = authorization.resolve_client(stored, provider.config.clients)
    try:
        auth_request = authorization.validate_authorization_request(stored, client, redirect_uri)
        decision = form.get("decision")
        if decision == "deny":
            raise AccessDenied("the user denied the request")
        if decision != "allow":
            raise PageError("Invalid request", "Choose Allow or Deny.")
    except OAuthError as exc:
        return _redirect(authorization.error_redirect(redirect_uri, stored, exc, provider.config.issuer), 303)
    _, username, auth_time = session
    prior = authorization.PriorConsent(
        *await provider.store.call_read(provider.store.consent, username, client.client_id)
    )
    approved = authorization.approve(auth_request, prior)
    await provider.store.call(
        provider.store.save_consent, username, client.client_id, approved.scopes, approved.implicit, provider.clock()
    )
    return await _issue(provider, auth_request, username, auth_time, 303)


# --- sign-in and sign-out -----------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """RFC 9700 §4.11: only same-origin paths, so sign-in is no open redirector (P3)."""
    if value is None:
        return "/"
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        raise PageError("Invalid return address", "After sign-in this provider only returns to its own pages.")
    return value


def _login_response(
    request: Request, provider: Provider, next_url: str, status: int = 200, username: str = "", error: str = ""
) -> Response:
    browser_id = _browser_id(request, provider) or new_secret()
    demo_users = list(provider.config.users.values()) if provider.config.demo else []
    response = render(
        "login.html",
        status_code=status,
        next=next_url,
        csrf_token=provider.csrf_token("login", browser_id),
        demo_users=demo_users,
        client_name=_client_name(provider, next_url),
        username=username,
        error=error,
    )
    response.set_cookie(
        provider.cookie_name("csrf"), browser_id, httponly=True, samesite="lax", secure=provider.secure_cookies
    )
    return response


def _client_name(provider: Provider, next_url: str) -> str:
    query = next_url.partition("?")[2]
    try:
        client_id = params.parse_multi(query.encode()).get("client_id", [""])[0]
    except InvalidRequest:
        return ""
    client = provider.config.clients.get(client_id)
    return client.name if client else ""


async def login_page(request: Request) -> Response:
    multi = await _page_params(request)
    next_url = _safe_next(multi.get("next", [None])[0])
    return _login_response(request, provider_of(request), next_url, username="")


async def _form(request: Request) -> dict[str, str]:
    try:
        multi = await params.form_params(request)
    except InvalidRequest as exc:
        raise PageError("Invalid request", exc.description) from None
    return _single(multi)


async def login(request: Request) -> Response:
    provider = provider_of(request)
    form = await _form(request)
    next_url = _safe_next(form.get("next"))
    # docs/SECURITY.md P10: the sign-in form is bound to this browser (a cross-site POST has no cookie).
    if not provider.check_csrf(form.get("csrf_token"), "login", _browser_id(request, provider) or ""):
        return _login_response(
            request, provider, next_url, 400, username="", error="The form expired. Please try again."
        )
    username, password = form.get("username", ""), form.get("password", "")
    # docs/SECURITY.md P23: the peer's address; forwarding headers are not trusted (cli.server_config).
    address = request.client.host if request.client else "unknown"
    device = _device_id(request, provider, username)
    rules = throttle.subjects(username, address, device)
    now = provider.clock()
    attempt = await provider.store.call(
        provider.store.reserve_login_attempt,
        {s: rule.keep for s, rule in rules.items()},
        now,
        now - throttle.WINDOW,
        lambda history: throttle.decide(rules, history, now),
    )
    if attempt.retry_after is not None:
        # docs/SECURITY.md P18, P23: the decision and the reservation were one transaction.
        return _retry_later(
            request,
            provider,
            next_url,
            username,
            429,
            attempt.retry_after,
            f"Too many failed attempts. Try again in {attempt.retry_after} seconds.",
        )
    user = provider.config.users.get(username)
    try:
        ok = await check_password(user.password_hash if user else None, password, username.lower())
    except Busy:
        # docs/SECURITY.md P23: no password was checked, so the reservation is undone.
        await provider.store.call(provider.store.forgive_login_attempt, attempt.rows, [])
        return _retry_later(
            request,
            provider,
            next_url,
            username,
            503,
            BUSY_RETRY_AFTER,
            "The server is busy checking other sign-ins. Please try again in a moment.",
        )
    if user is None or not ok:
        return _login_response(request, provider, next_url, 400, username=username, error="Wrong username or password.")
    forgiven = throttle.forgiven_on_success(rules)
    response = await _start_session(
        request, provider, username, next_url, lambda: provider.store.forgive_login_attempt(attempt.rows, forgiven)
    )
    if device is None:
        _set_device_cookie(response, provider, username)
    return response


def _retry_later(
    request: Request, provider: Provider, next_url: str, username: str, status: int, seconds: int, error: str
) -> Response:
    response = _login_response(request, provider, next_url, status, username=username, error=error)
    response.headers["Retry-After"] = str(seconds)
    return response


def _device_id(request: Request, provider: Provider, username: str) -> str | None:
    """The device id of a browser that signed in to this account before (throttle.py), or None."""
    device_id, _, mac = request.cookies.get(provider.cookie_name("device"), "").partition(".")
    # docs/SECURITY.md P23: only a cookie this provider issued for this account counts.
    return device_id if provider.check_csrf(mac, "device", username.lower(), device_id) else None


def _set_device_cookie(response: Response, provider: Provider, username: str) -> None:
    device_id = new_secret()
    value = device_id + "." + provider.csrf_token("device", username.lower(), device_id)
    # docs/SECURITY.md P29: like every provider cookie, `__Host-` prefixed and Secure on https.
    response.set_cookie(
        provider.cookie_name("device"),
        value,
        max_age=DEVICE_COOKIE_LIFETIME,
        httponly=True,
        samesite="lax",
        secure=provider.secure_cookies,
    )


async def _start_session(
    request: Request, provider: Provider, username: str, next_url: str, also: Callable[[], None] | None = None
) -> Response:
    """A new session for `username` in place of the browser's old one, and `also` (the sign-in throttle's
    bookkeeping), written as one unit: one commit for a sign-in, not three."""
    old = request.cookies.get(provider.cookie_name("session"))
    # A fresh session id at every sign-in: no session fixation.
    session_id, now = new_secret(), provider.clock()
    store = provider.store

    def unit() -> None:
        if also is not None:
            also()
        if old:
            store.delete_session(old)
        store.create_session(session_id, username, now, now + provider.config.session_lifetime)

    await store.call(unit)
    response = _redirect(next_url, 303)
    response.set_cookie(
        provider.cookie_name("session"),
        session_id,
        max_age=provider.config.session_lifetime,
        httponly=True,
        samesite="lax",
        secure=provider.secure_cookies,
    )
    return response


async def logout(request: Request) -> Response:
    provider = provider_of(request)
    form = await _form(request)
    session = await _session(request, provider)
    if session is None:
        return _redirect("/", 303)
    # docs/SECURITY.md P25: without this session's CSRF token, sign-out changes nothing (no cookie either).
    if not provider.check_csrf(form.get("csrf_token"), "logout", session[0]):
        raise PageError("This form has expired", "You are still signed in. Sign out from this provider's own page.")
    return await _sign_out(provider, session[0], _redirect("/", 303))


async def _sign_out(provider: Provider, session_id: str, response: Response) -> Response:
    """Deletes the server-side session and clears its cookie on `response`."""
    await provider.store.call(provider.store.delete_session, session_id)
    response.delete_cookie(provider.cookie_name("session"), secure=provider.secure_cookies, httponly=True)
    return response


# --- end-session endpoint (OpenID Connect RP-Initiated Logout 1.0) -------------------


async def end_session(request: Request) -> Response:
    """RP-Initiated Logout §2: GET or POST; signs out at once only for a hint of this session's user."""
    provider = provider_of(request)
    request_params = _single(await _page_params(request))
    session = await _session(request, provider)
    hint = request_params.get("id_token_hint")
    claims = provider.issuer.keys.verify_id_token_hint(hint) if hint else None
    user = SessionUser(session[1], session[2]) if session else None
    decision = validate_end_session_request(
        request_params, claims, provider.config.issuer, provider.config.clients, user
    )
    if decision.confirm:
        assert session is not None
        if not _confirmed(request, provider, request_params, session[0]):
            return _end_session_page(provider, decision, session)
    done = _end_session_done(decision, _after(request))
    return await _sign_out(provider, session[0], done) if session else done


def _confirmed(request: Request, provider: Provider, request_params: dict[str, str], session_id: str) -> bool:
    """True when the user confirmed on our page; a form with a wrong token changes nothing."""
    token = request_params.get("csrf_token")
    # RP-Initiated Logout §2: only the confirmation page's POST counts as the user's answer.
    if request.method != "POST" or token is None:
        return False
    # docs/SECURITY.md P25: the confirmation is bound to this session (a cross-site POST has no token).
    if not provider.check_csrf(token, "end-session", session_id):
        raise PageError("This form has expired", "You are still signed in. Sign out from this provider's own page.")
    return True


def _end_session_page(provider: Provider, decision: EndSession, session: tuple[str, str, int]) -> Response:
    client = decision.client
    return render(
        "end_session.html",
        username=session[1],
        client_name=client.name if client else "",
        client_id=client.client_id if client else "",
        redirect_uri=decision.post_logout_redirect_uri,
        state=decision.state,
        csrf_token=provider.csrf_token("end-session", session[0]),
    )


def _end_session_done(decision: EndSession, status: int) -> Response:
    url = decision.redirect_url
    # RP-Initiated Logout §3: only to a validated post_logout_redirect_uri; otherwise our own page.
    return _redirect(url, status) if url else render("signed_out.html")


async def home(request: Request) -> Response:
    provider = provider_of(request)
    session = await _session(request, provider)
    return render(
        "home.html",
        issuer=provider.config.issuer,
        username=session[1] if session else None,
        csrf_token=provider.csrf_token("logout", session[0]) if session else "",
    )
