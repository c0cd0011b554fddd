"""spalab_auth: OAuth 2.0 / OpenID Connect sign-in for PyScript apps (Pyodide and MicroPython).

In the browser::

    from spalab_auth import Auth, OAuthClientError, explain

    auth = Auth(issuer, client_id, redirect_uri, "openid profile")
    user = await auth.start()

``spalab_auth.core`` is the sans-I/O protocol core (build/parse pairs, no I/O, no clock): it
also runs on CPython and any other runtime that brings its own HTTP.

Importing the package in a browser takes an authorization response out of the address
bar at once (history.replaceState), before the app's own code runs; Auth.start() uses it.
"""

__version__ = "0.1.0"

from .core.errors import OAuthClientError

try:
    import pyscript  # noqa: F401 - only to tell a PyScript page from CPython or Node
except ImportError:  # not in a PyScript page: the core alone (spalab_auth.core)
    pass
else:
    from . import browser
    from .auth import Auth, Event, NotSignedIn, SessionEnded, User
    from .browser import NetworkError, PopupError, WorkerError
    from .explain import SignOutReport, explain

    browser.capture_callback()

__all__ = [
    "Auth",
    "Event",
    "NetworkError",
    "NotSignedIn",
    "OAuthClientError",
    "PopupError",
    "SessionEnded",
    "SignOutReport",
    "User",
    "WorkerError",
    "explain",
]
