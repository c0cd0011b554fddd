"""Rendering: the page's panels, messages and the timeline.

Only textContent is ever set from data (never innerHTML), so nothing that
arrives in a URL, a token or a server log can inject markup into the page.
"""

import js

from spalab_auth.core import masked
from spalab_auth.runtime import INTERPRETER

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    Step = dict[str, Any]
except ImportError:
    pass


def element(id_: str) -> "Any":
    return js.document.getElementById(id_)


def make(tag: str, text: str = "", cls: str = "") -> "Any":
    node = js.document.createElement(tag)
    if text:
        node.textContent = text
    if cls:
        node.className = cls
    return node


def show(id_: str, visible: bool) -> None:
    element(id_).hidden = not visible


def ready(booted: bool) -> None:
    loading = "Loading Python in your browser (" + INTERPRETER + ")…"
    element("boot").textContent = "Python is ready (" + INTERPRETER + ")." if booted else loading
    show("boot", not booted)
    for id_ in ("signin-code", "signin-implicit"):
        element(id_).disabled = not booted


def popup_available(available: bool) -> None:
    """The popup choice needs the second redirect URI (popup-callback.html) to be configured."""
    show("signin-window", available)


def message(text: str, kind: str = "error") -> None:
    box = element("message")
    box.textContent = text
    box.className = "message" if kind == "error" else "message info"
    box.hidden = not text


def chosen(name: str) -> str:
    return str(js.document.querySelector('input[name="' + name + '"]:checked').value)


def reload() -> None:
    js.location.reload()


def set_chosen(name: str, value: str) -> None:
    for radio in js.document.querySelectorAll('input[name="' + name + '"]'):
        radio.checked = str(radio.value) == value


def checked(id_: str) -> bool:
    return bool(element(id_).checked)


def set_checked(id_: str, value: bool) -> None:
    element(id_).checked = value


def signed_out(storage_note: str) -> None:
    show("signed-in", False)
    show("signed-out", True)
    element("storage-note").textContent = storage_note


def signed_in(
    who: str, flow: str, scopes: "list[str]", expiry: str, tokens: "list[tuple[str, str]]", can_refresh: bool
) -> None:
    show("signed-out", False)
    show("signed-in", True)
    element("who").textContent = who
    element("flow").textContent = flow
    element("scopes").textContent = " ".join(scopes) or "(none)"
    element("expiry").textContent = expiry
    element("refresh").disabled = not can_refresh
    show("refresh-note", not can_refresh)
    _token_rows(tokens)


def _token_rows(tokens: "list[tuple[str, str]]") -> None:
    box = element("tokens")
    box.replaceChildren()
    for label, value in tokens:
        row = make("div", cls="token")
        row.append(make("span", label))
        code = make("code", masked(value, 10))
        row.append(code)
        button = make("button", "Reveal", "secondary small")
        button.type = "button"
        button.setAttribute("aria-label", "Reveal " + label)
        button.setAttribute("data-value", value)
        button.setAttribute("data-shown", "no")
        row.append(button)
        box.append(row)


def toggle_reveal(button: "Any") -> None:
    code = button.previousElementSibling
    value = str(button.getAttribute("data-value"))
    if str(button.getAttribute("data-shown")) == "no":
        code.textContent = value
        button.textContent = "Hide"
        button.setAttribute("data-shown", "yes")
    else:
        code.textContent = masked(value, 10)
        button.textContent = "Reveal"
        button.setAttribute("data-shown", "no")


def api_result(text: str) -> None:
    box = element("api-result")
    box.textContent = text
    box.hidden = not text


def timeline(steps: "list[Step]") -> None:
    box = element("timeline")
    box.replaceChildren()
    for step in steps:
        box.append(_step(step))


def _step(step: "Step") -> "Any":
    item = make("li", cls="fail" if step.get("status") == "fail" else "")
    head = make("div")
    head.append(make("span", step.get("title", ""), "step-title"))
    if step.get("at"):
        head.append(make("span", _clock(step["at"]), "step-time"))
    item.append(head)
    if step.get("detail"):
        item.append(make("p", step["detail"], "step-detail"))
    for component in ("query", "fragment"):
        pairs = step.get(component)
        if pairs is not None:
            item.append(_component(component, pairs))
    if step.get("kv"):
        item.append(_pairs(step["kv"]))
    for seen in step.get("servers", []):
        item.append(_server(seen))
    if step.get("checks"):
        checks = make("ul", cls="checks")
        for name, outcome in step["checks"]:
            cls = "ok" if outcome == "ok" else ("fail" if outcome == "failed" else "skipped")
            checks.append(make("li", name + ": " + outcome, cls))
        item.append(checks)
    return item


def _component(component: str, pairs: "list[list[str]]") -> "Any":
    box = make("div", cls="step-detail")
    label = "query (?)" if component == "query" else "fragment (#)"
    box.append(make("span", label, "badge " + component))
    box.append(js.document.createTextNode(", ".join(n + "=" + v for n, v in pairs) if pairs else "(empty)"))
    return box


def _pairs(pairs: "list[list[str]]") -> "Any":
    dl = make("dl", cls="kv")
    for name, value in pairs:
        dl.append(make("dt", name))
        dl.append(make("dd", value))
    return dl


def _server(seen: "dict[str, str]") -> "Any":
    box = make("div", cls="step-detail")
    box.append(make("span", seen.get("server", ""), "badge server"))
    box.append(js.document.createTextNode(seen.get("text", "")))
    return box


def _clock(at: float) -> str:
    date = js.Date.new(float(at) * 1000)  # a float: MicroPython would wrap an int to 32 bits
    return str(date.toLocaleTimeString())
