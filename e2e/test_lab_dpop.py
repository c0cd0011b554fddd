"""The lab, DPoP (RFC 9449): what an injected script can take when the tokens are bound to a
non-extractable key, in each engine. The page is the example app (web/example/, Pyodide), which
turns DPoP on; "elsewhere" is this test process, an attacker's machine with what the script sent it.

- E11: the key. The script finds it in IndexedDB, can make the page's key sign, cannot export it.
- E12: the access token. The script wraps fetch and copies the token and its proof off the API
  call; replayed elsewhere (the same proof, as Bearer, with the attacker's own key) it is refused.
  The demo SPA's bearer token, copied the same way, works elsewhere: the contrast DPoP removes.
- E13: the refresh token. The script joins the app's BroadcastChannel (storage "shared") and asks
  for the session like a new tab would; the refresh token it gets is refused elsewhere, without the key.
"""

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from drivers import Browser
from harness import Demo
from joserfc import jws
from joserfc.jwk import ECKey
from lab_helpers import forget_provider_session
from spa_page import call_api
from spa_page import sign_in as sign_in_demo_spa
from test_package import PAGES, sign_in, sign_out_and_return

from spalab.provider.core.dpop import access_token_hash

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
Observe = Callable[..., None]

# An injected script reading the app's DPoP key out of IndexedDB and trying to take it away.
INSPECT_KEY = """async () => {
    const request = (r) => new Promise((ok, ko) => {
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ko(r.error);
    });
    const db = await request(indexedDB.open("spalab_auth"));
    let pairs = [];
    if (db.objectStoreNames.contains("dpop_keys")) {
        pairs = await request(db.transaction("dpop_keys").objectStore("dpop_keys").getAll());
    }
    db.close();
    if (!pairs.length) return {keys: 0};
    const key = pairs[0].privateKey;
    const out = {keys: pairs.length, extractable: key.extractable, type: key.type,
                 algorithm: key.algorithm.name + " " + key.algorithm.namedCurve, usages: key.usages.join(",")};
    for (const format of ["jwk", "pkcs8"]) {
        try { await crypto.subtle.exportKey(format, key); out[format] = "EXPORTED"; }
        catch (e) { out[format] = e.name; }
    }
    try {
        const signature = await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key,
                                                   new TextEncoder().encode("a proof of the attacker's"));
        out.sign = signature.byteLength + "-byte signature";
    } catch (e) { out.sign = e.name; }
    const pub = await crypto.subtle.exportKey("jwk", pairs[0].publicKey);
    out.x = pub.x;
    return out;
}"""

# An injected script wrapping fetch: every Authorization and DPoP header the app sends is copied.
WRAP_FETCH = """async () => {
    window.__stolen = [];
    const original = window.fetch;
    window.fetch = function (input, init) {
        const headers = new Headers((init && init.headers) || {});
        window.__stolen.push({url: String(input), authorization: headers.get("authorization"),
                              dpop: headers.get("dpop")});
        return original.apply(this, arguments);
    };
    return true;
}"""

# An injected script joining the app's BroadcastChannel and greeting it like a newly opened tab.
ASK_THE_CHANNEL = """async (name) => {
    const channel = new BroadcastChannel(name);
    const answer = new Promise((ok) => {
        channel.onmessage = (event) => {
            try { const m = JSON.parse(event.data); if (m.type === "tokens") ok(m.record); } catch (e) {}
        };
        setTimeout(() => ok(null), 5000);
    });
    channel.postMessage(JSON.stringify({type: "hello"}));
    const record = await answer;
    channel.close();
    return record && {refresh_token: record.refresh_token, access_token: record.access_token,
                      token_type: record.token_type};
}"""


def attacker_proof(method: str, url: str, access_token: str | None = None) -> str:
    """A well-formed DPoP proof signed with a key of the attacker's own (joserfc, not our client)."""
    key = ECKey.generate_key("P-256")
    claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    proof = jws.serialize_compact(header, json.dumps(claims).encode(), key)
    # A proof the provider's checks accept as such: a refusal is then about the key, nothing else.
    from spalab.provider.core.dpop import Expected, validate_proof

    assert validate_proof([proof], Expected(method, url, int(time.time()), (), access_token))
    return proof


def elsewhere(method: str, url: str, headers: dict[str, str], form: dict[str, str] | None = None) -> str:
    """The request from outside the browser; "status error" of the answer."""
    response = httpx.request(method, url, headers=headers, data=form, timeout=10)
    error = ""
    if response.status_code >= 400:
        challenge = re.search(r'^(\w+).*\berror="([^"]*)"', response.headers.get("www-authenticate", ""))
        if challenge:
            error = f"{challenge[1]} {challenge[2]}"
        else:
            try:
                error = str(response.json().get("error", ""))
            except ValueError:
                error = response.text[:80]
    return f"{response.status_code} {error}".strip()


def test_an_injected_script_can_use_the_dpop_key_but_not_export_it(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    page = demo.spa + PAGES["py"]
    sign_in(browser_page, page)
    found = dict(browser_page.evaluate_async(INSPECT_KEY))
    browser_page.reload()
    browser_page.wait_visible("#call-api")
    after_reload = dict(browser_page.evaluate_async(INSPECT_KEY))
    # Signed out here at once; the key is deleted before the page leaves for the provider's sign-out.
    sign_out_and_return(browser_page, demo, page)
    after_sign_out = dict(browser_page.evaluate_async(INSPECT_KEY))

    # The example keeps its tokens in memory (shared between tabs): a reload signs in again silently, a new
    # session with a key of its own (never one a script may have left in IndexedDB).
    renewed = after_reload.get("keys") == 1 and after_reload.get("x") != found.get("x")
    taken = [f for f in ("jwk", "pkcs8") if found.get(f) == "EXPORTED"]
    observed = (
        f"{found.get('keys')} key in IndexedDB: {found.get('algorithm')}, {found.get('type')} key, "
        f"extractable={found.get('extractable')}; exportKey jwk → {found.get('jwk')}, pkcs8 → {found.get('pkcs8')}; "
        f"sign → {found.get('sign')}; after a reload (a new session) {after_reload.get('keys')} key, a new one: "
        f"{renewed}; keys after sign-out: {after_sign_out.get('keys')}"
    )
    passed = found.get("extractable") is False and not taken and renewed and after_sign_out.get("keys") == 0
    observe(
        "E11",
        "DPoP key: an injected script can sign with it, never export it",
        observed,
        "the private key is non-extractable (every export fails), made anew for each session (a reload's silent "
        "sign-in too), and deleted at sign-out; a script in the page can still make it sign while the page is open",
        "RFC 9449 §2, §11.4; W3C WebCrypto §14.3 (extractable); docs/SECURITY.md C11",
        passed,
    )
    assert passed, observed


def test_a_copied_dpop_token_is_refused_elsewhere_and_a_bearer_one_is_not(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    api = demo.issuer + "/api/me"
    # The example app (DPoP): the script copies what the next API call sends.
    sign_in(browser_page, demo.spa + PAGES["py"])
    browser_page.evaluate_async(WRAP_FETCH)
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    stolen = [s for s in browser_page.evaluate("window.__stolen") if s["url"] == api]
    scheme, token = stolen[0]["authorization"].split(" ", 1)
    proof = stolen[0]["dpop"]
    replayed = elsewhere("GET", api, {"Authorization": f"DPoP {token}", "DPoP": proof})
    as_bearer = elsewhere("GET", api, {"Authorization": f"Bearer {token}"})
    own_key = elsewhere("GET", api, {"Authorization": f"DPoP {token}", "DPoP": attacker_proof("GET", api, token)})
    # RFC 9449 §11.1 (jti seen), §7.1 (a bound token as Bearer), §6 (cnf.jkt is another key's)
    refused = (replayed, as_bearer, own_key) == (
        "401 DPoP invalid_dpop_proof",
        "401 DPoP invalid_token",
        "401 DPoP invalid_dpop_proof",
    )

    # The demo SPA (bearer tokens), the same script; a new provider session (the login page again).
    forget_provider_session(browser_page, demo)
    sign_in_demo_spa(browser_page)
    browser_page.evaluate_async(WRAP_FETCH)
    call_api(browser_page)
    bearer = [s for s in browser_page.evaluate("window.__stolen") if s["authorization"]][0]["authorization"]
    bearer_elsewhere = elsewhere("GET", api, {"Authorization": bearer})

    observed = (
        f"DPoP-bound token ({scheme}, with proof: {bool(proof)}) copied off the API call; elsewhere: "
        f"its own proof replayed → {replayed}; sent as Bearer → {as_bearer}; with the attacker's key → {own_key}. "
        f"Bearer token copied the same way from the demo SPA; elsewhere → {bearer_elsewhere}"
    )
    observe(
        "E12",
        "A copied access token: DPoP-bound vs bearer",
        observed,
        "the DPoP-bound token is refused elsewhere (replayed proof, Bearer downgrade, another key); "
        "a bearer token works for whoever holds it",
        "RFC 9449 §7.1, §11.1; RFC 6750 §5.1",
        refused and scheme == "DPoP",
    )
    assert scheme == "DPoP" and refused, observed
    assert bearer_elsewhere.startswith("200"), observed  # the contrast: what DPoP removes


def test_a_refresh_token_taken_over_the_tabs_channel_is_useless_without_the_key(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    sign_in(browser_page, demo.spa + PAGES["py"])
    channel = f"spalab_auth:{demo.issuer}|spa-demo"
    record = browser_page.evaluate_async(ASK_THE_CHANNEL, channel)
    assert record, "the app's tab did not answer the greeting"
    token_url = demo.issuer + "/token"
    grant = {"grant_type": "refresh_token", "refresh_token": record["refresh_token"], "client_id": "spa-demo"}
    without_proof = elsewhere("POST", token_url, {}, grant)
    own_key = elsewhere("POST", token_url, {"DPoP": attacker_proof("POST", token_url)}, grant)
    # The page itself, which holds the key, still calls the API: the attempts did not end its session.
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    observed = (
        f"a script greeting the app's BroadcastChannel got the session ({record['token_type']} access token and "
        f"the refresh token); elsewhere: refresh without a proof → {without_proof}; "
        f"with the attacker's key → {own_key}"
    )
    # RFC 9449 §5: a bound refresh token needs a proof (invalid_dpop_proof), by its own key (invalid_grant)
    refused = (without_proof, own_key) == ("400 invalid_dpop_proof", "400 invalid_grant")
    observe(
        "E13",
        "A stolen refresh token without the DPoP key",
        observed,
        "the refresh token is bound to the key (public client): refused without a proof and with another key",
        "RFC 9449 §5, §5.0; RFC 9700 §4.14.2",
        refused,
    )
    assert refused, observed


# An injected script that leaves a key pair of its own where the app keeps its DPoP key, and keeps the
# private half (returned here: "sent elsewhere"). The app's key name is read from IndexedDB beforehand.
PLANT_KEY = """async (name) => {
    const request = (r) => new Promise((ok, ko) => {
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ko(r.error);
    });
    const pair = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, true, ["sign", "verify"]);
    const opening = indexedDB.open("spalab_auth", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("dpop_keys");
    const db = await request(opening);
    const write = db.transaction("dpop_keys", "readwrite");
    write.objectStore("dpop_keys").put(pair, name);
    await new Promise((ok, ko) => { write.oncomplete = ok; write.onerror = () => ko(write.error); });
    db.close();
    return await crypto.subtle.exportKey("jwk", pair.privateKey);
}"""
KEY_NAMES = """async () => {
    const request = (r) => new Promise((ok, ko) => {
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ko(r.error);
    });
    const db = await request(indexedDB.open("spalab_auth"));
    const names = db.objectStoreNames.contains("dpop_keys")
        ? await request(db.transaction("dpop_keys").objectStore("dpop_keys").getAllKeys()) : [];
    db.close();
    return names;
}"""


def test_a_key_a_script_left_in_indexeddb_never_signs_for_a_later_session(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C11 (an attacker's review): a script that ran once in the origin, while nobody was
    signed in, leaves a key pair where the app keeps its DPoP key and keeps the private half. The next
    sign-in makes a key of its own: its tokens are not bound to the script's key, which would otherwise
    have made every later session's tokens, copied by a log or a proxy, usable anywhere."""
    page = demo.spa + PAGES["py"]
    sign_in(browser_page, page)
    (name,) = browser_page.evaluate_async(KEY_NAMES)
    sign_out_and_return(browser_page, demo, page)  # the key goes with the session
    planted = ECKey.import_key(browser_page.evaluate_async(PLANT_KEY, name))
    sign_in(browser_page, page)
    browser_page.evaluate_async(WRAP_FETCH)
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    api = demo.issuer + "/api/me"
    authorization = [s for s in browser_page.evaluate("window.__stolen") if s["url"] == api][0]["authorization"]
    payload = authorization.split(" ", 1)[1].split(".")[1]
    bound_to = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["cnf"]["jkt"]
    assert bound_to != planted.thumbprint(), "the new session's tokens are bound to the script's key"
    # Nor does the script's key sign for it: a request with a proof of its key is refused.
    token = authorization.split(" ", 1)[1]
    planted_proof = jws.serialize_compact(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": planted.as_dict(private=False)},
        json.dumps(
            {
                "jti": str(uuid.uuid4()),
                "htm": "GET",
                "htu": api,
                "iat": int(time.time()),
                "ath": access_token_hash(token),
            }
        ).encode(),
        planted,
    )
    assert (
        elsewhere("GET", api, {"Authorization": f"DPoP {token}", "DPoP": planted_proof})
        == "401 DPoP invalid_dpop_proof"
    )
