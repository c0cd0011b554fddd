"""OpenID Connect RP-Initiated Logout 1.0: the request that ends the provider's session,
and the check of the browser's return to the post-logout redirect URI."""

from .config import ClientConfig
from .discovery import ProviderMetadata
from .encoding import parse_query
from .errors import ConfigurationError, StateMismatch
from .transaction import DEFAULT_ENTROPY_BYTES, random_value
from .urls import add_query, split_url

try:  # for static checkers only; MicroPython has no typing module
    from typing import Callable
except ImportError:
    pass

LOGOUT_STATE_BYTES = DEFAULT_ENTROPY_BYTES


def new_logout_state(random_bytes: "Callable[[int], bytes]") -> str:
    """The opaque value the provider echoes back (RP-Initiated Logout §2)."""
    entropy = bytes(random_bytes(LOGOUT_STATE_BYTES))
    if len(entropy) != LOGOUT_STATE_BYTES:
        raise ConfigurationError("random source returned too few bytes", reason="insufficient_entropy")
    return random_value(entropy)


def build_end_session_url(
    metadata: ProviderMetadata,
    client: ClientConfig,
    id_token_hint: "str | None",
    post_logout_redirect_uri: "str | None",
    state: "str | None",
) -> str:
    """Where to send the browser to end the provider's session (RP-Initiated Logout §2).

    With ``id_token_hint`` the provider knows who asks and may sign out at once; without
    one (or with an expired one it refuses) it asks the visitor to confirm."""
    if not metadata.end_session_endpoint:
        raise ConfigurationError(
            "provider has no end_session_endpoint", reason="no_end_session_endpoint", parameter="end_session_endpoint"
        )
    params = []  # type: list[tuple[str, str]]
    if id_token_hint:
        params.append(("id_token_hint", id_token_hint))
    # §2: client_id lets the provider check post_logout_redirect_uri even without a usable hint
    params.append(("client_id", client.client_id))
    if post_logout_redirect_uri:
        params.append(("post_logout_redirect_uri", post_logout_redirect_uri))
        if state:
            params.append(("state", state))
    return add_query(metadata.end_session_endpoint, params)


def logout_return_state(url: str) -> "str | None":
    """The ``state`` of a return to the post-logout redirect URI, None if the URL has none."""
    _, query, _ = split_url(url)
    values = [value for name, value in parse_query(query) if name == "state"]
    return values[0] if len(values) == 1 else None


def check_logout_return(url: str, expected_state: str) -> None:
    """§3: the provider echoes ``state``; anything else did not come from our sign-out."""
    if logout_return_state(url) != expected_state:
        raise StateMismatch("logout state differs", reason="logout_state", parameter="state")
