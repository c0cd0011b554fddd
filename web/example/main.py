import asyncio
import json

from pyscript import config, document, when

from spalab_auth import Auth, OAuthClientError, explain

settings = config["auth"]  # issuer, client_id, redirect_uri, ...: Auth's keyword names
auth = Auth.from_config(settings)


def show(text: str = "") -> None:
    user = auth.user
    document.querySelector("#who").textContent = "Signed in as " + user.name if user else "Signed out"
    shown = {"#sign-in": not user, "#sign-in-popup": not user, "#call-api": user, "#sign-out": user}
    for button, visible in shown.items():
        document.querySelector(button).hidden = not visible
    document.querySelector("#out").textContent = text


async def run(action, *args) -> None:
    try:
        result = await action(*args)
    except OAuthClientError as error:  # every failure; error.code and error.reason are stable
        return show(explain(error))
    show(json.dumps(result) if isinstance(result, (dict, list)) else "")


@when("click", "#sign-in")
async def sign_in(event) -> None:
    await run(auth.sign_in)


@when("click", "#sign-in-popup")
async def sign_in_popup(event) -> None:
    await run(auth.sign_in, True)  # popup=True: this page stays loaded; the popup's page hands the response back


@when("click", "#call-api")
async def call_api(event) -> None:
    await run(auth.get_json, settings["api"])


@when("click", "#sign-out")
async def sign_out(event) -> None:
    await run(auth.sign_out)  # revokes, then ends the provider session and comes back here


# Why a session ended without the user signing out here (event data "reason").
ENDED = {
    "refresh_failed": "Your session has ended: the provider would not renew it. Please sign in again.",
    "other_tab": "You signed out in another tab.",
}


def on_event(event) -> None:
    if event.type == "signed_in":
        show()
    elif event.type == "signed_out":
        show(ENDED.get(event.data.get("reason"), ""))


auth.on(on_event)
asyncio.create_task(run(auth.start))
