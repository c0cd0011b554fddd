"""DPoP's I/O (RFC 9449): reads the DPoP header, issues and rotates the server's nonces, and spends
each proof's jti once in the store. What is accepted is decided in core/dpop.py.

Nonces (docs/SECURITY.md P32) are stateless: an HMAC of the period number under a key kept in the
store, so every instance and every restart agrees on them. A nonce is current for NONCE_PERIOD
seconds and still accepted for one period after it rotated, so a client that just fetched one is not
turned away at the boundary. The token endpoint and the protected resources have nonces of their own
(RFC 9449 §8 and §9 are separate servers' nonces), so a client keeps one per server as it must.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request

from .core import dpop
from .store import Store

NONCE_PERIOD = 300
TOKEN_ENDPOINT, RESOURCE = "token", "resource"


@dataclass(frozen=True)
class DPoPShell:
    issuer: str
    store: Store
    nonce_key: bytes
    nonces_required: bool

    def nonce(self, server: str, now: int) -> str:
        """The nonce a client should put in its next proof for `server` (TOKEN_ENDPOINT or RESOURCE)."""
        return self._nonce(server, now // NONCE_PERIOD)

    def _nonce(self, server: str, period: int) -> str:
        mac = hmac.new(self.nonce_key, f"dpop-nonce|{server}|{period}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def accepted_nonces(self, server: str, now: int) -> tuple[str, ...]:
        if not self.nonces_required:
            return ()
        period = now // NONCE_PERIOD
        return self._nonce(server, period), self._nonce(server, period - 1)

    def check(self, request: Request, now: int, server: str, access_token: str | None = None) -> dpop.Proof | None:
        """The request's proof, checked against the request (core/dpop.py validate_proof); not yet spent."""
        # RFC 9449 §4.3 (9): htu is compared with the URL this provider publishes for the endpoint (the
        # issuer's), never one built from the request's Host header (docs/SECURITY.md P24).
        expected = dpop.Expected(
            request.method,
            self.issuer + request.url.path,
            now,
            self.accepted_nonces(server, now),
            access_token,
        )
        return dpop.validate_proof(request.headers.getlist("dpop"), expected)

    def spend(self, proof: dpop.Proof | None, now: int) -> None:
        """docs/SECURITY.md P31: records the proof's jti; a second use within its window is refused."""
        if proof is not None:
            dpop.check_jti_unused(self.store.use_dpop_proof(proof.replay_key, proof.remember_until, now))

    def response_headers(self, request: Request, server: str, now: int) -> dict[str, str]:
        """RFC 9449 §8.2, §9: the current nonce on every answer to a DPoP request, success or error, so the
        client follows the rotation; nothing for requests that do not use DPoP."""
        if self.nonces_required and uses_dpop(request):
            return {"DPoP-Nonce": self.nonce(server, now)}
        return {}


def uses_dpop(request: Request) -> bool:
    """A DPoP header, or an Authorization header with the DPoP scheme."""
    schemes = (value.split(" ", 1)[0].lower() for value in request.headers.getlist("authorization"))
    return "dpop" in request.headers or any(scheme == dpop.DPOP for scheme in schemes)
