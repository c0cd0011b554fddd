"""The lab, E16: silent renewal across sites (issue 12). The SPA (localhost) and the provider
(127.0.0.1) are different sites. A `prompt=none` request (code + PKCE, with state) runs from the
lab's page /lab/silent in a hidden iframe and at the top level; whether the iframe's request carried
the provider's session cookie shows in the answer: a code (the provider saw the session, which the
top-level run right after proves exists) or `login_required` (it saw none). Each is timed.

Engine behaviour no spec pins down (which cookies a cross-site frame carries) is recorded; our
defences are asserted: with no session a framed prompt=none gets `login_required`, never the sign-in
page; a page of an origin no client registered, framing the request with the registered redirect
URI, receives nothing (docs/SECURITY.md P36, H7); the SPA's CSP keeps an injected script from
framing the provider. The lab client is `lab-silent` (server/spalab/provider/demo.toml)."""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from drivers import Browser
from harness import Demo
from lab_helpers import Entry, mark, param_names, seen_since
from spa_page import BOOT_TIMEOUT, authenticate

from spalab.host.lab_pages import PROBE_COOKIES

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
Observe = Callable[..., None]
CLIENT = "lab-silent"
SPEC = "OIDC Core §3.1.2.6 (prompt=none); RFC 6265bis §5.2 (SameSite), §8.8 (third-party cookies)"

# An injected script starting a silent flow of its own: its own state and PKCE pair, a hidden iframe to
# the provider, the answer from the app's silent callback (posted to this origin), the code redeemed.
INJECTED_SILENT_FLOW = """async ([provider, clientId, redirectUri]) => {
    const b64url = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
        .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const query = new URLSearchParams({client_id: clientId, redirect_uri: redirectUri, response_type: "code",
        scope: "openid", state, code_challenge: challenge, code_challenge_method: "S256", prompt: "none"});
    const frame = document.createElement("iframe");
    frame.hidden = true;
    let violation = null;
    document.addEventListener("securitypolicyviolation", (e) => {
        if (e.blockedURI.startsWith(provider)) violation = e.effectiveDirective;
    });
    const started = performance.now();
    const answer = await new Promise((resolve) => {
        window.addEventListener("message", (event) => {
            if (event.origin === location.origin && event.data && event.data.type === "spalab-silent") {
                resolve(event.data);
            }
        });
        setTimeout(() => resolve(null), 5000);
        frame.src = provider + "/authorize?" + query;
        document.body.append(frame);
    });
    const ms = Math.round(performance.now() - started);
    if (answer === null) return {outcome: "no answer", violation, ms};
    if (!answer.code) return {outcome: answer.error, violation, ms};
    const response = await fetch(provider + "/token", {method: "POST", body: new URLSearchParams({
        grant_type: "authorization_code", code: answer.code, redirect_uri: redirectUri, client_id: clientId,
        code_verifier: verifier})});
    const body = await response.json();
    return {outcome: "code", token: response.status, got_access_token: Boolean(body.access_token), violation, ms};
}"""


def callback_uri(demo: Demo) -> str:
    return demo.spa + "/lab/silent/callback"


def sign_in_and_consent(browser: Browser, demo: Demo) -> None:
    """The page's visible sign-in for the lab client, top level: the provider then has a session (its cookie is
    SameSite=Lax, docs/SECURITY.md P29) and alice's consent, so a prompt=none request can get a code."""
    browser.goto("/lab/silent")
    browser.click("#sign-in")
    authenticate(browser)
    browser.wait_url(lambda url: url.startswith(callback_uri(demo)), "the silent callback", BOOT_TIMEOUT)
    signed_in = result(browser)
    assert (signed_in["mode"], signed_in["outcome"], signed_in.get("token")) == ("visible sign-in", "code", 200)


def result(browser: Browser) -> dict[str, Any]:
    """What the lab page (or its callback) wrote into #result, once it has."""
    browser.wait_for(lambda: browser.text("#result").strip() != "", "the experiment's result", BOOT_TIMEOUT)
    return dict(json.loads(browser.text("#result")))


def run_in_iframe(browser: Browser, page: str) -> dict[str, Any]:
    browser.goto(page)
    browser.click("#run-iframe")
    return result(browser)


def run_at_top_level(browser: Browser, demo: Demo) -> dict[str, Any]:
    browser.goto("/lab/silent")
    browser.click("#run-top")
    browser.wait_url(lambda url: url.startswith(callback_uri(demo)), "the silent callback", BOOT_TIMEOUT)
    return result(browser)


def set_probe_cookies(browser: Browser, demo: Demo) -> None:
    """SameSite=None cookies for host 127.0.0.1, set at the top level: they go to the provider too (cookies
    ignore ports), so its log shows what the engine's third-party cookie policy lets into a frame."""
    browser.goto("http://127.0.0.1:" + str(urlsplit(demo.spa).port) + "/lab/silent/probe-cookies")


def cookies_sent(seen: dict[str, list[Entry]]) -> tuple[bool, str]:
    """Whether the provider's last /authorize request carried its session cookie, and every cookie it
    carried, by name (the log keeps no values)."""
    entries = [e for e in seen["provider"] if e["path"] == "/authorize"]
    names = entries[-1]["cookies"] if entries else []
    session = any(n.startswith("spalab_session_") for n in names)
    shown = [f"session (SameSite=Lax) {'SENT' if session else 'not sent'}"]
    for probe, secure in PROBE_COOKIES.items():
        kind = "SameSite=None; Secure" if secure else "SameSite=None"
        shown.append(f"probe ({kind}) {'SENT' if probe in names else 'not sent'}")
    return session, ", ".join(shown)


def answers(seen: dict[str, list[Entry]]) -> str:
    """What the servers logged: the provider's /authorize status, and the callback's parameter names."""
    authorize = [str(e["status"]) for e in seen["provider"] if e["path"] == "/authorize"]
    callbacks = [",".join(sorted(param_names(e))) for e in seen["spa-host"] if e["path"] == "/lab/silent/callback"]
    return f"provider /authorize → {'/'.join(authorize) or 'not asked'}; callback saw {callbacks or 'no request'}"


def describe(run: dict[str, Any]) -> str:
    if run["outcome"] == "no answer":
        return f"no answer within {run['ms']} ms"
    token = f", redeemed → {run['token']}" if "token" in run else ""
    return f"{run['outcome']}{token} in {run['ms']} ms"


def test_silent_renewal_in_a_hidden_iframe_and_at_the_top_level(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    """OIDC Core §3.1.2.6: prompt=none answers at once; whether a cross-site frame carries the provider's
    cookie is the engine's (recorded); a top-level navigation carries a SameSite=Lax cookie (asserted).
    The frame runs twice: before any sign-in, and after one that went SPA → provider → SPA (a user's first
    sign-in), since an engine may let the provider's cookies into frames once the user has interacted with it."""
    set_probe_cookies(browser_page, demo)
    before = mark(demo)
    cold = run_in_iframe(browser_page, "/lab/silent")
    _, cold_cookies = cookies_sent(seen_since(demo, before))
    sign_in_and_consent(browser_page, demo)
    before = mark(demo)
    framed = run_in_iframe(browser_page, "/lab/silent")
    seen = seen_since(demo, before)
    (carried, framed_cookies), framed_seen = cookies_sent(seen), answers(seen)
    before = mark(demo)
    top = run_at_top_level(browser_page, demo)
    seen = seen_since(demo, before)
    (_, top_cookies), top_seen = cookies_sent(seen), answers(seen)

    # The provider answers what it saw: a code with the session cookie, login_required without it.
    consistent = framed["outcome"] == ("code" if carried else "login_required") and cold["outcome"] == "login_required"
    observe(
        "E16",
        "prompt=none in a hidden iframe, SPA and provider on different sites",
        f"provider's session cookie carried: {'yes' if carried else 'no'} — {describe(framed)}; "
        f"cookies on the framed /authorize: {framed_cookies}; {framed_seen}. Before the sign-in: "
        f"{describe(cold)}, cookies: {cold_cookies}",
        "a code when the frame carries the provider's cookie, login_required when the engine withholds it "
        "(SameSite=Lax withholds it from a cross-site frame; SameSite=None meets the engine's third-party policy)",
        SPEC,
        consistent,
        recorded=True,
    )
    top_ok = top["outcome"] == "code" and top.get("token") == 200
    observe(
        "E16",
        "prompt=none at the top level (a redirect of the whole tab)",
        f"{describe(top)} (navigation start → callback); cookies on /authorize: {top_cookies}; {top_seen}",
        "a code: a top-level GET navigation carries the SameSite=Lax session cookie; the code redeems (200)",
        "OIDC Core §3.1.2.6; RFC 6265bis §5.2.1 (Lax, top-level navigation)",
        top_ok,
    )
    assert consistent, (cold, framed, framed_cookies)
    assert top_ok, top


def test_with_no_session_a_framed_prompt_none_gets_login_required_and_no_sign_in_page(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    """OIDC Core §3.1.2.6, docs/SECURITY.md P36: the frame never shows the sign-in page; the answer is an error."""
    before = mark(demo)
    framed = run_in_iframe(browser_page, "/lab/silent")
    seen = seen_since(demo, before)
    login_pages = [e for e in seen["provider"] if e["path"] == "/login"]
    passed = framed["outcome"] == "login_required" and not login_pages
    observe(
        "E16",
        "No provider session: prompt=none in a frame",
        f"{describe(framed)}; {answers(seen)}; sign-in page requested {len(login_pages)} times",
        "login_required on the registered redirect URI, never the sign-in page (which stays unframeable)",
        "OIDC Core §3.1.2.6; RFC 9700 §4.16; docs/SECURITY.md P36",
        passed,
    )
    assert passed, (framed, login_pages)


def test_an_unregistered_origin_framing_prompt_none_receives_nothing(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    """RFC 9700 §4.16, docs/SECURITY.md P36, H7: http://127.0.0.1:<spa port> (registered by no client, and the
    provider's own site, so the provider's cookie goes along) frames prompt=none with the registered URI."""
    sign_in_and_consent(browser_page, demo)
    unregistered = "http://127.0.0.1:" + str(urlsplit(demo.spa).port)
    before = mark(demo)
    framed = run_in_iframe(browser_page, unregistered + "/lab/silent")
    seen = seen_since(demo, before)
    followed = any(e["path"] == "/lab/silent/callback" for e in seen["spa-host"])
    passed = framed["outcome"] == "no answer"
    observe(
        "E16",
        "A page of an unregistered origin frames prompt=none",
        f"{describe(framed)}; {answers(seen)}",
        "the page receives nothing: the provider's redirect names only the registered origin (frame-ancestors), "
        "the callback allows only its own origin as parent and posts only to it",
        "RFC 9700 §4.16; CSP 3 §6.4.2; docs/SECURITY.md P36, H7",
        passed,
    )
    observe(
        "E16",
        "Does the engine check a redirect's frame-ancestors?",
        "no: it followed the provider's redirect (frame-ancestors names only the registered origin) and requested "
        "the callback with the code; the callback's own defences (frame-ancestors 'self', postMessage to its origin) "
        "kept it from the page"
        if followed
        else "yes: it stopped at the provider's redirect (the callback was never requested)",
        "CSP 3 and HTML check the response a frame would display, after redirects; a redirect's own header is "
        "the engine's business",
        "CSP 3 §6.4.2.1; HTML §7.4.2.2 (navigation response checks)",
        True,
        recorded=True,
    )
    assert passed, (framed, seen)


def test_an_injected_script_starting_a_silent_flow_of_its_own(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    """draft-ietf-oauth-browser-based-apps §5.1.3: a script in the app's origin can start a fresh flow of its own
    with prompt=none. In the demo SPA the CSP (default-src 'self') refuses the frame; in a page of the same origin
    without that CSP the outcome is whatever the engine's cookie policy gives the iframe (recorded)."""
    sign_in_and_consent(browser_page, demo)  # a provider session, and alice's consent for the lab client
    flow = [demo.issuer, CLIENT, callback_uri(demo)]
    browser_page.goto("/")  # the demo SPA's page, with its CSP
    browser_page.wait_enabled("#signin-code", BOOT_TIMEOUT)  # booted: the interpreter no longer holds the thread
    in_spa = dict(browser_page.evaluate_async(INJECTED_SILENT_FLOW, flow))
    browser_page.goto("/lab/silent")
    without_csp = dict(browser_page.evaluate_async(INJECTED_SILENT_FLOW, flow))

    refused = in_spa["outcome"] == "no answer" and in_spa.get("violation") is not None
    observe(
        "E16",
        "An injected script's own silent flow, in the demo SPA (CSP)",
        f"{describe(in_spa)}; CSP violation: {in_spa.get('violation')}",
        "the SPA's CSP (default-src 'self', so frame-src 'self') refuses the provider's frame: nothing comes back",
        "CSP 3 §6.1.2 (frame-src); draft-ietf-oauth-browser-based-apps §5.1.3; docs/SECURITY.md C8",
        refused,
    )
    took = without_csp["outcome"] == "code" and without_csp.get("got_access_token") is True
    observe(
        "E16",
        "An injected script's own silent flow, in a page of the origin without CSP",
        f"{describe(without_csp)}; tokens: {'TAKEN' if took else 'none'}",
        "where the iframe carries the provider's cookie the script gets a code and redeems it with its own "
        "verifier; where it does not, login_required",
        SPEC + "; draft-ietf-oauth-browser-based-apps §5.1.3",
        without_csp["outcome"] in ("code", "login_required"),
        recorded=True,
    )
    assert refused, in_spa
    assert without_csp["outcome"] in ("code", "login_required"), without_csp
