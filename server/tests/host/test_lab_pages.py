"""The lab's pages on the SPA host (issue 4): served without the SPA's policies,
reflecting nothing, while every SPA route keeps its CSP and no-referrer."""

from starlette.testclient import TestClient

from spalab.host.app import create_spa_app
from spalab.host.lab_pages import PREFIX

PROVIDER = "http://127.0.0.1:9000"
SETTINGS = {"issuer": PROVIDER, "client_id": "spa-demo", "redirect_uri": "http://localhost:8000/"}
LAB_PAGES = ("referer/source", "referer/target", "landing", "timeline", "live", "other-callback", "blank", "silent")


def spa() -> TestClient:
    return TestClient(create_spa_app([PROVIDER], SETTINGS), base_url="http://localhost:8000")


def test_bounce_redirects_without_a_fragment() -> None:
    """RFC 9110 §10.2.2: the Location has no fragment, so the engine decides whether to re-attach one."""
    response = spa().get(PREFIX + "bounce", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/lab/landing"


def test_lab_pages_carry_no_referrer_policy_or_csp() -> None:
    """W3C Referrer Policy §3: without the header the engine's default policy applies, which E2 observes."""
    client = spa()
    for page in LAB_PAGES:
        response = client.get(PREFIX + page)
        assert response.status_code == 200, page
        assert "referrer-policy" not in response.headers
        assert "content-security-policy" not in response.headers
        assert response.headers["cache-control"] == "no-store"


def test_referer_source_targets_both_origins() -> None:
    """RFC 9110 §10.1.3: the page sends same-origin and cross-origin requests whose Referer E2 records."""
    body = spa().get(PREFIX + "referer/source").text
    for via in ("img-same", "fetch-same", "link-same"):
        assert f"/lab/referer/target?via={via}" in body
    for via in ("img-cross", "fetch-cross", "link-cross"):
        assert f"{PROVIDER}/static/provider.css?via={via}" in body


def test_lab_pages_reflect_nothing_from_the_request() -> None:
    """OWASP XSS prevention: no query value reaches the markup of a page without CSP."""
    client = spa()
    for page in (*LAB_PAGES, "silent/callback"):
        body = client.get(PREFIX + page, params={"code": "<script>x</script>", "access_token": "REFLECTED"}).text
        assert "<script>x" not in body and "REFLECTED" not in body


def test_spa_routes_keep_their_policies_next_to_the_lab() -> None:
    """docs/SECURITY.md C8: adding the lab changes nothing for the SPA's own responses."""
    client = spa()
    for path in ("/", "/pyscript.json", "/main.py", "/lab/", "/lab/nothing-here", "/lab/../main.py"):
        response = client.get(path)
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert "script-src 'self'" in response.headers["content-security-policy"], path


def test_live_lab_links_carry_fake_values_and_its_script_writes_text_only() -> None:
    """The demo's Lab page runs E3 and E10 in the visitor's browser without reflecting the URL as markup."""
    client = spa()
    live = client.get(PREFIX + "live").text
    assert 'href="/lab/bounce#access_token=FAKE-' in live and 'href="/lab/timeline?code=FAKE-' in live
    for page in ("landing", "timeline"):
        assert '<script src="/lab/live.js"></script>' in client.get(PREFIX + page).text
    script = client.get(PREFIX + "live.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text


def test_the_silent_callback_is_frameable_by_its_own_origin_only() -> None:
    """docs/SECURITY.md H7, CSP 3 §6.4.2: the page that receives codes in a frame names only its own origin;
    its script answers a parent of that origin only and writes text only."""
    client = spa()
    response = client.get(PREFIX + "silent/callback", params={"code": "c", "state": "s"})
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert "x-frame-options" not in response.headers and "referrer-policy" not in response.headers
    script = client.get(PREFIX + "silent.js").text
    assert "postMessage(answer, location.origin)" in script
    assert "innerHTML" not in script and "textContent" in script


def test_the_silent_page_names_the_provider_and_the_registered_callback() -> None:
    """OIDC Core §3.1.2.6 (E16): the request goes to the configured provider with the lab-silent client's
    registered redirect URI, fixed when the app is built, whichever origin serves the page."""
    for base in ("http://localhost:8000", "http://127.0.0.1:8000"):
        body = TestClient(create_spa_app([PROVIDER], SETTINGS), base_url=base).get(PREFIX + "silent").text
        assert f'data-provider="{PROVIDER}"' in body
        assert 'data-redirect-uri="http://localhost:8000/lab/silent/callback"' in body
        assert 'data-client-id="lab-silent"' in body
