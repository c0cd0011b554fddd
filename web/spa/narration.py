"""The timeline, told as the sign-in goes: one method per step, in the words the page
shows. Saved to sessionStorage after each step, so it survives the redirect.

Values of codes and tokens are shortened here (timeline.shown), before they are stored.
"""

from spalab_auth import browser
from spalab_auth.core import HttpRequest, HttpResponse, OAuthClientError, TokenSet, Transaction, decode_jwt, masked
from spalab_auth.explain import SignOutReport

from .timeline import Timeline, add_checks, failure_recorded, shown, shown_pairs, url_parts

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    Step = dict[str, Any]
except ImportError:
    pass

FLOW_NAMES = {
    "code": "Authorization code + PKCE",
    "token": "Implicit (legacy): token",
    "id_token token": "Implicit (legacy): id_token token",
}


class Narrator:
    def __init__(self, storage: browser.Storage) -> None:
        self.storage = storage
        self.timeline = Timeline.from_json(storage.get("timeline"))

    def step(self, title: str, status: str, detail: str) -> "Step":
        return self.timeline.add(title, status, detail, browser.now())

    def save(self) -> None:
        self.storage.set("timeline", self.timeline.to_json())

    def clear(self) -> None:
        self.timeline.clear()
        self.save()

    def failure_recorded(self, step: "Step", fallback: "list[tuple[str, str]] | None" = None) -> failure_recorded:
        """``with narrator.failure_recorded(step): ...``: a core error inside fails `step`, saved."""
        return failure_recorded(step, self.save, fallback)

    def discovery(self, issuer: str) -> None:
        step = self.step("Discovery", "ok", "GET " + issuer + "/.well-known/openid-configuration")
        add_checks(step, [("discovered issuer equals the configured one", "ok")])

    def authorization_request(self, tx: Transaction, url: str, popup: bool) -> None:
        where = "a popup window opens" if popup else "this page navigates"
        step = self.step(
            "Authorization request",
            "info",
            FLOW_NAMES[tx.response_type] + ": " + where + " to the provider's authorization endpoint.",
        )
        step["query"] = url_parts(url)[1]
        if tx.code_verifier:
            step["kv"].append(
                [
                    "code_verifier",
                    shown("code_verifier", tx.code_verifier) + " — kept in this "
                    "tab's sessionStorage; sent later only to the token endpoint",
                ]
            )
        if any(pair[0] == "dpop_jkt" for pair in step["query"]):
            step["kv"].append(
                [
                    "dpop_jkt",
                    "the thumbprint of this browser's DPoP key: the provider will hand the tokens for this "
                    "code only to a request signed with that key (RFC 9449 §10)",
                ]
            )
        self.save()

    def redirect_back(self, url: str, via: str) -> None:
        base, query, fragment = url_parts(url)
        if via == "popup":
            how = (
                "The provider sent the popup to " + base + "; that page cleaned its URL, handed it to this "
                "page (postMessage, same origin only) and closed."
            )
        else:
            how = (
                "The provider sent the browser to " + base + ". The URL was cleaned with "
                "history.replaceState before Python started (boot.js)."
            )
        step = self.step("Redirect back to the app", "info", how)
        step["query"], step["fragment"] = query, fragment
        self.save()

    def unknown_state(self) -> "Step":
        return self.step("Response checks", "fail", "No sign-in started in this tab has this state.")

    def response_checks(self, checks: "list[tuple[str, str]]") -> None:
        step = self.step("Response checks", "ok", "Checked before anything else in the response was used.")
        add_checks(step, checks)

    def token_request(self, request: HttpRequest, proof: "dict[str, Any] | None" = None) -> "Step":
        step = self.step(
            "Token request (fetch with CORS)",
            "info",
            "POST " + request.url + " from this page's origin; the response is read by JavaScript, never put in a URL.",
        )
        step["kv"] = shown_pairs(request.body or "") + proof_lines(proof)
        return step

    def dpop_nonce(self, server: str) -> None:
        where = "The token endpoint" if server == "token_endpoint" else "The API"
        self.step(
            "DPoP nonce",
            "info",
            where + " asked for a fresh server nonce (use_dpop_nonce): the request goes again, once, with it.",
        )

    def tokens_received(self, step: "Step", tokens: TokenSet) -> None:
        step["status"] = "ok"
        step["kv"].append(["response", _summary(tokens)])
        jkt = bound_to(tokens)
        if jkt is not None:
            step["kv"].append(["access token bound to (cnf.jkt)", jkt])
        add_checks(step, [("PKCE verifier accepted by the provider", "ok")] + tokens.checks)

    def implicit_checks(self) -> "Step":
        return self.step(
            "Token checks (implicit)", "ok", "The tokens arrived in the fragment: the app must prove they are its own."
        )

    def userinfo(self, endpoint: str, profile: object) -> None:
        step = self.step(
            "Userinfo", "ok", "GET " + endpoint + ": no id_token in this flow, so the app asks who signed in."
        )
        step["kv"].append(["sub", str(profile.get("sub")) if isinstance(profile, dict) else "?"])

    def api_call(
        self, request: HttpRequest, response: HttpResponse, access_token: str, proof: "dict[str, Any] | None" = None
    ) -> "Step":
        scheme = request.headers.get("Authorization", "").partition(" ")[0]
        step = self.step(
            "API call",
            "info",
            "GET "
            + request.url
            + " with Authorization: "
            + scheme
            + " "
            + shown("access_token", access_token)
            + (" and a DPoP proof (the token alone is refused)" if proof is not None else ""),
        )
        step["kv"] = proof_lines(proof)
        step["kv"].append(["status", str(response.status)])
        return step

    def refreshed(self, request: HttpRequest, old: TokenSet, tokens: TokenSet) -> None:
        step = self.step("Refresh (rotation)", "ok", "POST " + request.url + " with grant_type=refresh_token.")
        step["kv"] = [
            ["old refresh_token", shown("refresh_token", old.refresh_token or "")],
            ["new refresh_token", shown("refresh_token", tokens.refresh_token or "")],
            ["rotated", "yes" if tokens.refresh_token != old.refresh_token else "no"],
        ]
        self.save()

    def signed_out(self, step: "Step", report: SignOutReport) -> None:
        """Says "revoked" only if the provider confirmed it (messages.SignOutReport)."""
        step["status"], step["detail"] = report.status(), report.detail()
        self.save()

    def servers_saw(self) -> "Step":
        return self.step(
            "What the servers saw", "info", "From each server's request log. The fragment is never sent to any server."
        )


def proof_lines(proof: "dict[str, Any] | None") -> "list[list[str]]":
    """A DPoP proof (RFC 9449 §4.2) for the timeline: its header and claims, values shortened."""
    if proof is None:
        return []
    header, claims = proof["header"], proof["claims"]
    jwk = header.get("jwk", {})
    told = [
        "typ=" + str(header.get("typ")),
        "alg=" + str(header.get("alg")),
        "jwk={kty=" + str(jwk.get("kty")) + ", crv=" + str(jwk.get("crv")) + ",",
        "x=" + masked(str(jwk.get("x"))) + "}",
    ]
    said = ["htm=" + str(claims.get("htm")), "htu=" + str(claims.get("htu")), "iat=" + str(claims.get("iat"))]
    said.append("jti=" + masked(str(claims.get("jti"))))
    for name in ("nonce", "ath"):
        if name in claims:
            said.append(name + "=" + masked(str(claims[name])))
    signature = str(proof["proof"]).rsplit(".", 1)[-1]
    return [
        ["DPoP proof header", " ".join(told)],
        ["DPoP proof claims", " ".join(said)],
        ["DPoP signature", masked(signature, 10) + " (ES256, by a key this page cannot export)"],
        ["key thumbprint (jkt)", str(proof["jkt"])],
    ]


def bound_to(tokens: TokenSet) -> "str | None":
    """The cnf.jkt a JWT access token is bound to (RFC 9449 §6.1), if it says."""
    try:
        confirmation = decode_jwt(tokens.access_token).claims.get("cnf")
    except OAuthClientError:
        return None
    jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    return jkt if isinstance(jkt, str) else None


def _summary(tokens: TokenSet) -> str:
    parts = ["access_token", "token_type=" + tokens.token_type]
    if tokens.refresh_token:
        parts.append("refresh_token")
    if tokens.id_token:
        parts.append("id_token")
    return ", ".join(parts)
