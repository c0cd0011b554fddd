"""The values the protocol core decides about: registered clients, grants and codes.

The store returns Grant and CodeRecord; the configuration builds Client. All frozen.
"""

from dataclasses import dataclass, field

SCOPES = ("openid", "profile", "email", "offline_access", "contacts.read")


@dataclass(frozen=True)
class Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    name: str = ""
    allow_implicit: bool = False
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = SCOPES
    cors_origins: tuple[str, ...] = ()
    refresh_tokens: bool = True
    post_logout_redirect_uris: tuple[str, ...] = ()
    # RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False
    # docs/SECURITY.md P36: origins that may frame this client's prompt=none responses (silent renewal
    # in a hidden iframe); empty (the default): nothing of the provider is frameable for this client.
    frame_origins: tuple[str, ...] = ()

    @property
    def is_confidential(self) -> bool:
        return self.client_secret is not None


@dataclass(frozen=True)
class Grant:
    """What the user approved: one family of tokens, revoked as a whole."""

    grant_id: str
    client_id: str
    username: str
    scope: str
    auth_time: int
    created_at: int
    expires_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class CodeRecord:
    grant_id: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: int
    dpop_jkt: str | None = None  # RFC 9449 §10: the key the authorization request named
