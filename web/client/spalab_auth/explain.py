"""Readable messages for every error the package can raise, and what a sign-out did.

Pure Python (no `js`): the one table an app consults in its single
``except OAuthClientError as error: show(explain(error))``.
"""

from .core import ApiError, AuthorizationDenied, OAuthClientError, TokenEndpointError

_BY_CODE = {
    "configuration_error": "The app is misconfigured: {detail}.",
    "invalid_encoding": "The response contained text that is not valid URL encoding; it was refused.",
    "discovery_error": "The provider's discovery document is unusable ({detail}). Check the issuer URL.",
    "issuer_mismatch": "The response claims to come from another provider than the one this sign-in "
    "started with (iss check failed). It was refused: this is the defence against mix-up attacks.",
    "invalid_transaction": "The stored sign-in data in this tab is damaged; start the sign-in again.",
    "invalid_callback": "The sign-in response was malformed ({detail}); it was refused and no token was requested.",
    "response_mode_mismatch": "The sign-in response carried parameters in the wrong part of the URL "
    "(query versus fragment); it was refused and no token was requested.",
    "state_mismatch": "This sign-in response does not belong to a sign-in started in this tab "
    "(state check failed). It was refused and no token was requested.",
    "invalid_token_response": "The token endpoint's answer was unusable ({detail}).",
    "invalid_jwt": "A token from the provider failed validation ({detail}).",
    "invalid_id_token": "The ID token failed validation ({detail}); sign-in refused.",
    "nonce_mismatch": "The ID token's nonce does not match this sign-in (replayed or injected token); refused.",
    "at_hash_mismatch": "The ID token's at_hash does not match the access token (substituted token); refused.",
    "invalid_access_token": "The access token failed validation ({detail}); sign-in refused.",
    "token_substitution": "The access token was not issued to this app (token substitution); refused.",
    "revocation_error": "The provider did not confirm the revocation ({detail}).",
    "not_signed_in": "You are not signed in: sign in first.",
    "session_ended": "Your session ended (signed out in another tab, or the provider refused to renew it): "
    "sign in again.",
}

# Guards whose reason says more than their class.
_BY_REASON = {
    "token_not_bound": "The provider answered with a bearer token although this app asked for one bound to "
    "its key (DPoP, RFC 9449). It was refused: anyone who copied a bearer token could use it. "
    "Turn DPoP on for this client at the provider, or dpop off in the app.",
    "no_popup_script": "Popup sign-in needs the package's popup.js on this page (a <script src> to where you serve "
    "spalab_auth/popup.js); without it the app can only sign in with a redirect.",
}

# The token worker's refusals (Auth(storage="worker")), by reason.
_WORKER = {
    "origin_not_allowed": "The token worker refused to send the access token to that URL: its origin is not "
    "in api_origins. Add the API's origin there if the app should call it.",
    "unavailable": "The token worker is not running (worker_url wrong, or the page's CSP forbids the worker): "
    "sign-in and API calls cannot work. Check worker_url and worker-src.",
    "not_signed_in": "The token worker holds no tokens (the page was reloaded, or signed out): sign in again.",
    "no_revocation_endpoint": "The provider offers no revocation endpoint, so the token worker revoked nothing.",
}

_DENIED = {
    "access_denied": "You denied access at the provider, so the app is not signed in.",
    "login_required": "The provider needs you to sign in first.",
    "consent_required": "The provider needs your consent first.",
    "unauthorized_client": "The provider does not allow this app to use that flow.",
    "invalid_scope": "The provider refused the requested scopes.",
}

_TOKEN = {
    "invalid_grant": "The provider refused the authorization code or refresh token (invalid_grant): "
    "it expired, was already used, or was revoked. Sign in again.",
    "invalid_client": "The provider does not recognise this app (invalid_client).",
}


def explain(error: Exception) -> str:
    """One readable sentence for any error of this package (never a token value)."""
    popup = getattr(error, "popup_reason", None)
    if popup == "blocked":
        return "The browser blocked the sign-in window. Allow popups for this page, or sign in with a redirect."
    if popup == "unanswered":
        return (
            "The sign-in window stopped answering: the provider cut this page's link to it, and no answer came "
            "back while the sign-in could still finish. You are not signed in; sign in again."
        )
    if popup == "superseded":
        return "A newer sign-in took the place of this one."
    if popup is not None:
        return "The sign-in window was closed before the sign-in finished; you are not signed in."
    url = getattr(error, "url", None)
    if url is not None:
        return "Could not reach " + str(url) + ": the server may be down, or it refused this origin (CORS)."
    if isinstance(error, AuthorizationDenied):
        text = _DENIED.get(error.error or "", "The provider refused the sign-in (" + str(error.error) + ").")
        return text + (" Provider says: " + error.error_description if error.error_description else "")
    if isinstance(error, TokenEndpointError):
        return _TOKEN.get(error.error or "", "The token endpoint answered " + str(error.error) + ".")
    if isinstance(error, ApiError):
        if error.status == 401:
            return "The API refused the access token (" + str(error.error or "invalid_token") + "): sign in again."
        return "The API answered HTTP " + str(error.status) + " (" + str(error.error or "error") + ")."
    if isinstance(error, OAuthClientError) and error.code == "worker_error":
        return _WORKER.get(error.reason, "The token worker refused the request (" + error.reason + ").")
    if isinstance(error, OAuthClientError) and error.reason in _BY_REASON:
        return _BY_REASON[error.reason]
    if isinstance(error, OAuthClientError):
        template = _BY_CODE.get(error.code, "Sign-in failed ({detail}).")
        return template.replace("{detail}", error.detail or error.reason)
    return "Something went wrong: " + type(error).__name__ + "."


class SignOutReport:
    """What sign-out did at the provider, told truthfully: "revoked" only for the tokens the
    provider's revocation endpoint confirmed (RFC 7009 §2.2: HTTP 200), never for a skipped
    or failed request: the visitor must learn which tokens still work, and for how long."""

    __slots__ = ("endpoint", "expires_in", "revoked", "failed", "api_status", "held")

    def __init__(self, endpoint: "str | None", expires_in: "int | None", held: bool = True) -> None:
        self.endpoint = endpoint
        self.expires_in = expires_in
        self.held = held  # whether this page held tokens when the sign-out began
        self.revoked = []  # type: list[str]
        self.failed = []  # type: list[str]
        self.api_status = None  # type: int | None

    def fully_revoked(self) -> bool:
        return bool(self.endpoint and self.revoked and not self.failed)

    def status(self) -> str:
        """The timeline step's status: ok only if every token was revoked."""
        if self.fully_revoked():
            return "ok"
        return "fail" if self.failed else "info"

    def detail(self) -> str:
        if self.fully_revoked():
            return "Tokens revoked at the provider (RFC 7009) and dropped from memory."
        if not self.held:
            return self._not_revoked()
        return "Tokens dropped from memory. " + self._not_revoked()

    def message(self) -> str:
        after = (
            ""
            if self.api_status is None
            else " The API now answers HTTP " + str(self.api_status) + " to the old token."
        )
        if self.fully_revoked():
            return "Signed out: tokens revoked." + after
        reason = self._not_revoked()
        return "Signed out here; " + reason[0].lower() + reason[1:] + after

    def _not_revoked(self) -> str:
        if not self.held:
            return "No tokens were held here, so there was nothing to revoke."  # not "may stay valid"
        until = "until they expire" + ("" if self.expires_in is None else " (in " + str(self.expires_in) + " s)")
        if not self.endpoint:
            return "The provider offers no revocation endpoint, so the tokens stay valid " + until + "."
        return (
            "The provider did not confirm the revocation of the "
            + " and the ".join(self.failed)
            + ", so the tokens may stay valid "
            + until
            + "."
        )
