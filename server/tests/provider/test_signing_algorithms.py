"""Two kinds of signing key (spalab.provider.keys, docs/SECURITY.md P19, P37): id_tokens are RS256, what
every OpenID Connect client expects; access tokens are ES256. Each key names its algorithm in its JWK, and
a token verifies only with its key's own algorithm: a header that names another algorithm for a key (RS256
for the P-256 key, ES256 or HS256 for the RSA key) is refused, so neither kind can stand in for the other."""

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from provider_support import ISSUER, SECRET, Clock, Flow, api
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import ProviderConfig
from spalab.provider.keys import PUBLISH_AHEAD, new_signing_key
from spalab.provider.store import SQLITE_FILE, Store


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _part(token: str, index: int) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[index] + "=="))
    return decoded


def _jwks(client: TestClient) -> dict[str, dict[str, Any]]:
    return {key["kid"]: key for key in client.get("/jwks").json()["keys"]}


def _signed(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _es256(key: ec.EllipticCurvePrivateKey) -> Any:
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def _rs256(key: rsa.RSAPrivateKey) -> Any:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def test_access_tokens_are_es256_and_id_tokens_rs256(flow: Flow, client: TestClient) -> None:
    tokens = flow.tokens()
    published = _jwks(client)
    access, id_token = _part(tokens["access_token"], 0), _part(tokens["id_token"], 0)
    assert access["alg"] == "ES256" and access["typ"] == "at+jwt"
    assert published[access["kid"]] | {"x": "", "y": ""} == {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "kid": access["kid"],
        "x": "",
        "y": "",
    }
    assert id_token["alg"] == "RS256" and published[id_token["kid"]]["kty"] == "RSA"
    assert published[id_token["kid"]]["alg"] == "RS256"
    # OIDC Core §3.1.3.7: the discovery document names the id_token's algorithm, and only it.
    assert client.get("/.well-known/openid-configuration").json()["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "d" not in published[access["kid"]] and "d" not in published[id_token["kid"]]  # public halves only
    assert api(client, tokens["access_token"]).status_code == 200


def _forgery(kind: str, token: str, published: dict[str, dict[str, Any]]) -> str:
    """A token with the real one's claims whose header names an algorithm its kid's key is not for."""
    claims = _part(token, 1)
    ec_kid = next(kid for kid, key in published.items() if key["kty"] == "EC")
    rsa_kid = next(kid for kid, key in published.items() if key["kty"] == "RSA")
    header = {"typ": "at+jwt"}
    if kind == "ES256 with the RSA key's kid":
        mine = ec.generate_private_key(ec.SECP256R1())
        return _signed({**header, "alg": "ES256", "kid": rsa_kid}, claims, _es256(mine))
    if kind == "RS256 with the P-256 key's kid":
        mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _signed({**header, "alg": "RS256", "kid": ec_kid}, claims, _rs256(mine))
    if kind == "HS256 keyed with the published P-256 key":
        secret = json.dumps(published[ec_kid]).encode()
        mac = lambda data: hmac.new(secret, data, hashlib.sha256).digest()  # noqa: E731
        return _signed({**header, "alg": "HS256", "kid": ec_kid}, claims, mac)
    if kind == "ES256 without a kid":
        return _signed({**header, "alg": "ES256"}, claims, _es256(ec.generate_private_key(ec.SECP256R1())))
    assert kind == "ES256 header on the real signature"
    head, payload, signature = token.split(".")
    return f"{_b64(json.dumps({**_part(token, 0), 'alg': 'RS256'}).encode())}.{payload}.{signature}"


FORGERIES = [
    "ES256 with the RSA key's kid",
    "RS256 with the P-256 key's kid",
    "HS256 keyed with the published P-256 key",
    "ES256 without a kid",
    "ES256 header on the real signature",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_key_verifies_only_its_own_algorithm(flow: Flow, client: TestClient, kind: str) -> None:
    """RFC 8725 §3.1, RFC 7517 §4.4: no algorithm confusion between the two kinds of key."""
    token = flow.tokens()["access_token"]
    forged = _forgery(kind, token, _jwks(client))
    for path in ("/api/me", "/userinfo"):
        answer = api(client, forged, path)
        assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["www-authenticate"]
    introspected = client.post("/introspect", data={"token": forged}, auth=("confidential", SECRET))
    assert introspected.status_code == 200 and introspected.json() == {"active": False}


def test_a_database_from_before_es256_publishes_the_new_key_before_it_signs(
    config: ProviderConfig, tmp_path: Path, clock: Clock
) -> None:
    """A database whose only key is RSA (made before access tokens were ES256): the P-256 key is added at
    start-up and published PUBLISH_AHEAD before it signs (P37), so an instance that has not reloaded yet
    never meets an access token it cannot verify; until then access tokens are RS256, and they still verify
    after the switch."""
    store = Store(tmp_path / SQLITE_FILE)
    kid, private_jwk = new_signing_key("RS256")
    store.add_signing_key(kid, private_jwk, 0, signs_from=0)
    store.close()
    app = create_provider_app(config, tmp_path, clock=clock)
    try:
        with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
            published = _jwks(client)
            assert sorted(key["alg"] for key in published.values()) == ["ES256", "RS256"]
            before = Flow(client).tokens()["access_token"]
            assert _part(before, 0)["alg"] == "RS256" and _part(before, 0)["kid"] == kid
            clock.advance(PUBLISH_AHEAD)
            after = Flow(client).tokens()["access_token"]
            assert _part(after, 0)["alg"] == "ES256" and published[_part(after, 0)["kid"]]["kty"] == "EC"
            assert api(client, before).status_code == 200 and api(client, after).status_code == 200
    finally:
        app.state.provider.store.close()


def test_a_new_database_gets_one_key_of_each_kind_signing_at_once(
    config: ProviderConfig, tmp_path: Path, clock: Clock
) -> None:
    """Two instances started on a new database: one key of each kind, not one each (test_instances.py starts
    them at the same moment)."""
    apps = [create_provider_app(config, tmp_path, clock=clock) for _ in range(2)]
    try:
        with TestClient(apps[1], base_url=ISSUER, follow_redirects=False) as client:
            assert sorted(key["alg"] for key in _jwks(client).values()) == ["ES256", "RS256"]
            assert _part(Flow(client).tokens()["access_token"], 0)["alg"] == "ES256"
    finally:
        for app in apps:
            app.state.provider.store.close()
