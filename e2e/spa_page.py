"""Driving the demo SPA like a visitor: buttons, the provider's forms, the result."""

from playwright.sync_api import Page, expect

BOOT_TIMEOUT = 60_000


def open_app(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#signin-code")).to_be_enabled(timeout=BOOT_TIMEOUT)


def start(page: Page, flow: str = "code", mode: str = "query") -> None:
    """flow: "code" (mode query or fragment), "token" or "id_token token"."""
    if flow == "code":
        page.check(f'input[name="response-mode"][value="{mode}"]')
        page.click("#signin-code")
    else:
        page.check(f'input[name="implicit-type"][value="{flow}"]')
        page.click("#signin-implicit")


def authenticate(page: Page, username: str = "alice", password: str = "wonderland", decision: str = "Allow") -> None:
    """Signs in at the provider and answers the consent page if it is shown."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Either the consent page (at /authorize) or, with consent remembered, straight back to the app.
    page.wait_for_url(lambda url: "/login" not in url)
    if "/authorize" in page.url:
        page.get_by_role("button", name=decision).click()


def sign_in(page: Page, flow: str = "code", mode: str = "query", username: str = "alice",
            password: str = "wonderland") -> None:  # fmt: skip
    open_app(page)
    start(page, flow, mode)
    authenticate(page, username, password)
    expect(page.locator("#signed-in")).to_be_visible(timeout=BOOT_TIMEOUT)


def message(page: Page) -> str:
    box = page.locator("#message")
    expect(box).to_be_visible(timeout=BOOT_TIMEOUT)
    return box.inner_text()
