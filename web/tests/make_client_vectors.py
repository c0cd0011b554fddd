"""Regenerate ``client_vectors.py``: real JWTs signed with joserfc, plus the public JWKS.

The portable tests use these fixed tokens on every runtime. On MicroPython, which
cannot do RSA or EC math, they are checked with a verifier that only accepts the
exact signatures recorded here; on CPython the same tests use real verification
(``cpython_verify.py``) and ``test_cpython_signatures.py`` proves every recorded
token verifies with the published key.

Run from the repository root:  .venv/bin/python web/tests/make_client_vectors.py
"""

import base64
import hashlib
import pathlib
import pprint
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

ISSUER = "http://127.0.0.1:9000"
OTHER_ISSUER = "https://idp.example.net"
CLIENT_ID = "spalab-spa"
OTHER_CLIENT_ID = "other-client"
API_AUDIENCE = "http://127.0.0.1:9000/api"
SUBJECT = "alice"
NONCE = "nonce-5iGa0qE3QbWrVvHcXDwGJt2p1l8ZkAo7fUyRmT4sN9c"
NOW = 1800000000
LIFETIME = 600
OPAQUE_ACCESS_TOKEN = "opaque-Yt4Wm0kZ7qL2vN8sR1xC5bH3jD6fG9aP"
CODE_FLOW_ACCESS_TOKEN = "codeflow-Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def at_hash(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest()[:16])


def keys() -> "dict[str, Any]":
    return {
        "rsa-1": RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256", "use": "sig"}),
        "ps-1": RSAKey.generate_key(2048, parameters={"kid": "ps-1", "alg": "PS256", "use": "sig"}),
        "ec-1": ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256", "use": "sig"}),
    }


def access_claims(**changes: object) -> "dict[str, Any]":
    claims = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": API_AUDIENCE,
        "client_id": CLIENT_ID,
        "scope": "openid profile api.read",
        "iat": NOW,
        "exp": NOW + LIFETIME,
        "jti": "at-0001",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def id_claims(access_token: "str | None", **changes: object) -> "dict[str, Any]":
    claims = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + LIFETIME,
        "auth_time": NOW - 5,
        "nonce": NONCE,
        "at_hash": at_hash(access_token) if access_token else None,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(
    key: "RSAKey | ECKey | OctKey", alg: str, claims: "dict[str, Any]", typ: str = "JWT", kid: "str | None" = None
) -> str:
    header = {"alg": alg, "typ": typ, "kid": kid or key.kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def tokens(k: "dict[str, Any]") -> "dict[str, str]":
    rsa = k["rsa-1"]
    at_jwt = sign(rsa, "RS256", access_claims(), typ="at+jwt")
    made = {
        "at_jwt": at_jwt,
        "at_jwt_other_client": sign(rsa, "RS256", access_claims(client_id=OTHER_CLIENT_ID), typ="at+jwt"),
        "at_jwt_other_issuer": sign(rsa, "RS256", access_claims(iss=OTHER_ISSUER), typ="at+jwt"),
        "at_jwt_no_client": sign(rsa, "RS256", access_claims(client_id=None), typ="at+jwt"),
        "at_jwt_azp_only": sign(rsa, "RS256", access_claims(client_id=None, azp=CLIENT_ID), typ="at+jwt"),
        "at_jwt_plain_typ": sign(rsa, "RS256", access_claims(client_id=OTHER_CLIENT_ID)),
        "id_for_at_jwt": sign(rsa, "RS256", id_claims(at_jwt)),
        "id_for_opaque": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN)),
        "id_for_opaque_es256": sign(k["ec-1"], "ES256", id_claims(OPAQUE_ACCESS_TOKEN)),
        "id_for_opaque_ps256": sign(k["ps-1"], "PS256", id_claims(OPAQUE_ACCESS_TOKEN)),
        "id_wrong_nonce": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, nonce="another-nonce")),
        "id_no_nonce": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, nonce=None)),
        "id_wrong_at_hash": sign(rsa, "RS256", id_claims("a-different-access-token")),
        "id_no_at_hash": sign(rsa, "RS256", id_claims(None)),
        "id_other_audience": sign(
            rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, aud=OTHER_CLIENT_ID, azp=OTHER_CLIENT_ID)
        ),
        "id_multi_audience_no_azp": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, aud=[CLIENT_ID, "x"], azp=None)),
        "id_multi_audience_azp": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, aud=[CLIENT_ID, "x"])),
        "id_azp_other": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, azp=OTHER_CLIENT_ID)),
        "id_other_issuer": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, iss=OTHER_ISSUER)),
        "id_not_before_later": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, nbf=NOW + 3600)),
        "id_no_sub": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, sub=None)),
        "id_no_iat": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN, iat=None)),
        "id_unknown_kid": sign(rsa, "RS256", id_claims(OPAQUE_ACCESS_TOKEN), kid="rsa-unknown"),
        "id_code_flow": sign(rsa, "RS256", id_claims(None)),
        "id_code_flow_at_hash": sign(rsa, "RS256", id_claims(CODE_FLOW_ACCESS_TOKEN)),
        "id_refreshed": sign(rsa, "RS256", id_claims(None, nonce=None, iat=NOW + 300, exp=NOW + 900)),
        "id_refreshed_other_sub": sign(rsa, "RS256", id_claims(None, nonce=None, sub="mallory", iat=NOW + 300)),
    }
    made["id_hs256"] = jwt.encode(
        {"alg": "HS256", "kid": "rsa-1"}, id_claims(OPAQUE_ACCESS_TOKEN), OctKey.import_key(b"s" * 32)
    )
    return made


def render(k: "dict[str, Any]") -> str:
    jwks = {"keys": [key.as_dict(private=False) for key in k.values()]}
    constants = [
        ("ISSUER", ISSUER),
        ("OTHER_ISSUER", OTHER_ISSUER),
        ("CLIENT_ID", CLIENT_ID),
        ("OTHER_CLIENT_ID", OTHER_CLIENT_ID),
        ("API_AUDIENCE", API_AUDIENCE),
        ("SUBJECT", SUBJECT),
        ("NONCE", NONCE),
        ("NOW", NOW),
        ("LIFETIME", LIFETIME),
        ("OPAQUE_ACCESS_TOKEN", OPAQUE_ACCESS_TOKEN),
        ("CODE_FLOW_ACCESS_TOKEN", CODE_FLOW_ACCESS_TOKEN),
    ]
    lines = ['"""Generated by make_client_vectors.py; do not edit. Real signatures, public keys only."""', ""]
    lines += ["%s = %r" % (name, value) for name, value in constants]
    lines += ["", "JWKS = " + pprint.pformat(jwks, width=100, sort_dicts=True), ""]
    lines += ["TOKENS = " + pprint.pformat(tokens(k), width=100, sort_dicts=True), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    target = pathlib.Path(__file__).with_name("client_vectors.py")
    target.write_text(render(keys()))
    print("wrote", target)
