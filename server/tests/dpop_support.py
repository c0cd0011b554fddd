"""DPoP proofs for the tests (RFC 9449 §4.2), made with joserfc like a client would, and the helpers
that present them at the token endpoint and the protected resources.

`Holder` is a client's key: it makes proofs for a method and URL, with any claim or header member
replaced or removed (REMOVE), or signs exactly the header and claims it is given (`sign_raw`) for the
shapes a well-behaved client would never send.
"""

import base64
import hashlib
import json
import secrets
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OctKey, RSAKey
from provider_support import ISSUER, REDIRECT, Flow

TOKEN_URL = ISSUER + "/token"
REMOVE = object()
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath_of(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


class Holder:
    """A DPoP key pair, as a client holds it (here in the test's memory)."""

    def __init__(self, alg: str = "ES256", key: ECKey | RSAKey | OctKey | None = None) -> None:
        self.alg = alg
        if key is None:
            key = ECKey.generate_key(CURVES[alg]) if alg in CURVES else RSAKey.generate_key(2048)
        self.key = key

    @property
    def jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def proof(
        self,
        method: str,
        url: str,
        now: int,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A proof for one request; `claims` and `header` replace (or, with REMOVE, drop) members."""
        body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": now}
        if access_token is not None:
            body["ath"] = ath_of(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        protected: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        for target, changes in ((body, claims), (protected, header or {})):
            for name, value in changes.items():
                if value is REMOVE:
                    target.pop(name, None)
                else:
                    target[name] = value
        return self.sign_raw(protected, body)

    def sign_raw(self, protected: dict[str, Any], claims: dict[str, Any] | bytes) -> str:
        """Signs exactly this header and payload with this key (joserfc's algorithm for self.alg), with none of
        the checks joserfc would make of the header: the tests need headers no client should send."""
        payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
        signing_input = f"{b64url(json.dumps(protected).encode())}.{b64url(payload)}"
        signature = jws.JWSRegistry.algorithms[self.alg].sign(signing_input.encode("ascii"), self.key)
        return f"{signing_input}.{b64url(signature)}"


def unsigned(protected: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWS with alg none: header and claims, and an empty signature."""
    encode = lambda value: b64url(json.dumps(value).encode())  # noqa: E731
    return f"{encode(protected)}.{encode(claims)}."


def token_request(client, form: dict[str, str], proof: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    """POST /token with a DPoP header when `proof` is given."""
    if proof is not None:
        headers["DPoP"] = proof
    return client.post("/token", data=form, headers=headers)


def dpop_call(client, holder: Holder, token: str, now: int, path: str = "/api/me", method: str = "GET", **claims: Any):  # type: ignore[no-untyped-def]
    """A protected resource called with the DPoP scheme and a fresh proof (overrides in `claims`)."""
    proof = holder.proof(method, ISSUER + path, now, access_token=token, **claims)
    return client.request(method, path, headers={"Authorization": f"DPoP {token}", "DPoP": proof})


def exchange(flow: Flow, proof: str | None, **overrides: str | None):  # type: ignore[no-untyped-def]
    """Signs in, then redeems the code at /token with `proof` in the DPoP header (none when None)."""
    code = flow.code()
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "spa",
        "code_verifier": flow.verifier,
    }
    form.update(overrides)
    return token_request(flow.client, {k: v for k, v in form.items() if v is not None}, proof)


def redeem(flow: Flow, code: str, proof: str | None, client_id: str = "spa"):  # type: ignore[no-untyped-def]
    """POST /token for `code` (signed in and authorized already), with `proof` in the DPoP header (none: None)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": flow.verifier,
    }
    return token_request(flow.client, form, proof)


def dpop_tokens(flow: Flow, holder: Holder, now: int, **overrides: str | None) -> dict[str, Any]:
    """Tokens from a code exchange with a valid proof of `holder`."""
    response = exchange(flow, holder.proof("POST", TOKEN_URL, now), **overrides)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    return response.json()  # type: ignore[no-any-return]


def refresh(client, refresh_token: str, proof: str | None = None, client_id: str = "spa", **extra: str):  # type: ignore[no-untyped-def]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return token_request(client, form, proof)


def claims_of(jwt: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the tests look at what the provider put there)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]
