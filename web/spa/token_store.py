"""Who is signed in: the tokens, the flow that got them and the profile, kept in memory;
also in this tab's sessionStorage when the page opts in ("token_storage":
"sessionStorage"), so a reload keeps them. Never localStorage (docs/SECURITY.md C7)."""

import json

from spalab_auth.browser import Storage
from spalab_auth.core import OAuthClientError, TokenSet

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


class NotSignedIn(OAuthClientError):
    """An action that needs tokens was asked for while signed out."""

    code = "not_signed_in"


class TokenStore:
    def __init__(self, storage: Storage, keep: bool) -> None:
        self.storage = storage
        self.keep = keep
        self.tokens = None  # type: TokenSet | None
        self.response_type = ""
        self.profile = {}  # type: dict[str, Any]
        self._restore()

    def current(self) -> TokenSet:
        if self.tokens is None:
            raise NotSignedIn("no tokens")
        return self.tokens

    def signed_in(self, tokens: TokenSet, response_type: str) -> None:
        self.tokens, self.response_type = tokens, response_type
        self.profile = tokens.id_token_claims or self.profile
        if self.keep:
            self.storage.set("tokens", json.dumps(_token_record(tokens, response_type)))

    def signed_out(self) -> None:
        self.tokens, self.response_type, self.profile = None, "", {}
        self.storage.remove("tokens")

    def _restore(self) -> None:
        record = self.storage.get("tokens") if self.keep else None
        if record:
            data = json.loads(record)
            self.tokens = TokenSet(
                data["access_token"],
                "Bearer",
                data["issued_at"],
                data["expires_at"],
                data["scopes"],
                data["refresh_token"],
                data["id_token"],
                data["claims"],
            )
            self.response_type = data["response_type"]


def _token_record(tokens: TokenSet, response_type: str) -> "dict[str, Any]":
    return {
        "access_token": tokens.access_token,
        "issued_at": tokens.issued_at,
        "expires_at": tokens.expires_at,
        "scopes": tokens.scopes,
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "claims": tokens.id_token_claims,
        "response_type": response_type,
    }
