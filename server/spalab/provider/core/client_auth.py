"""Client authentication at the token, revocation and introspection endpoints.

Methods: `none` (public clients), `client_secret_basic`, `client_secret_post`
(RFC 6749 §2.3.1). A request uses exactly one method.
"""

import base64
import hmac
from urllib.parse import unquote

from .errors import InvalidClient, InvalidRequest
from .records import Client


def parse_basic_credentials(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported authorization scheme")
    try:
        # A header arrives as latin-1 text: b64decode refuses a non-ASCII character with ValueError.
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id), unquote(secret)


def authenticate_client(clients: dict[str, Client], form: dict[str, str], authorization: str | None) -> Client:
    basic = parse_basic_credentials(authorization)
    secret: str | None
    # RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if basic is not None and "client_secret" in form:
        raise InvalidRequest("use either client_secret_basic or client_secret_post, not both")
    if basic is not None:
        client_id, secret = basic[0], basic[1]
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the authenticated client")
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
    client = clients.get(client_id)
    if client is None:
        raise InvalidClient("unknown client")
    _check_secret(client, secret)
    return client


def _check_secret(client: Client, secret: str | None) -> None:
    if client.client_secret is None:
        # docs/SECURITY.md P20: a public client has no secret, so a sent one proves nothing; refuse it.
        if secret is not None:
            raise InvalidClient("this is a public client: it has no secret")
        return
    # RFC 6749 §3.2.1: a confidential client must authenticate.
    if secret is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
        raise InvalidClient("client authentication failed")


def check_browser_origin(client: Client, origin: str | None) -> None:
    """A browser names the page that sent the request (Fetch §3.1, the Origin header).

    RFC 9700 §2.6 and §4.2.4 (defence in depth): a request from a page on an origin the
    client never registered is refused before any code or token is looked at. CORS alone
    only hides the answer from such a page; without this check its request would still
    be processed and spend the client's authorization code. Requests without Origin
    (servers, command-line tools) are unaffected."""
    if origin is not None and origin not in client.cors_origins:
        raise InvalidClient(f"requests from origin {origin[:100]!r} are not accepted for this client")
