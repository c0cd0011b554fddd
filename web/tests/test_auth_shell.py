"""The package's shell (spalab_auth.auth) on CPython, against fake_browser's stand-in for the
browser: the races between tabs, refreshes and sign-out that a browser test cannot time."""

import asyncio

from fake_browser import browser_page, token_answer


def test_a_tab_that_signs_out_does_not_take_the_refresh_another_tab_finishes_meanwhile() -> None:
    """docs/SECURITY.md C10: sign-out in one tab is final there, even with a shared refresh in flight."""
    with browser_page() as page:
        signing_out, refresher = page.auth(refresher=False), page.auth()
        page.answer = lambda request: token_answer(1)

        async def run() -> None:
            signing_out._signed_in(page.tokens(0), "code")
            refresher._signed_in(page.tokens(0), "code")
            refreshing = asyncio.create_task(refresher._refresh(refresher.tokens))
            await asyncio.sleep(0)  # the refresh request is on its way
            await signing_out.sign_out(end_session=False)
            await refreshing  # rotated, and handed to the other tabs before they heard of the sign-out
            page.deliver()

        asyncio.run(run())
        assert not signing_out.signed_in
