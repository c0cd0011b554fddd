"""The provider as this page load knows it: its metadata and its keys, each fetched once,
and the WebCrypto signature checks the client core asks about (done before it asks)."""

import json

from oauth_client import (
    HttpRequest,
    InvalidIdToken,
    PrecomputedVerifier,
    ProviderMetadata,
    SignatureInput,
    build_discovery_request,
    decode_jwt,
    parse_discovery_response,
    signature_input,
)

from . import browser

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.metadata = None  # type: ProviderMetadata | None
        self.jwks = None  # type: dict[str, Any] | None

    async def discover(self) -> ProviderMetadata:
        if self.metadata is None:
            request = build_discovery_request(self.issuer)
            self.metadata = parse_discovery_response(self.issuer, await browser.send(request))
        return self.metadata

    async def keys(self) -> "dict[str, Any]":
        if self.jwks is None:
            jwks_uri = (await self.discover()).jwks_uri
            self.jwks = await _fetch_jwks(jwks_uri) if jwks_uri else {"keys": []}
        return self.jwks

    async def verifier_for(self, tokens: "list[str]") -> PrecomputedVerifier:
        """WebCrypto is asynchronous: verify first, hand the core the answers."""
        jwks = await self.keys()
        return await verified(
            [signature_input(decode_jwt(token, InvalidIdToken), jwks, error=InvalidIdToken) for token in tokens]
        )


async def _fetch_jwks(url: str) -> "dict[str, Any]":
    """An unusable answer is no keys: every signature check then fails, with its own error."""
    response = await browser.send(HttpRequest("GET", url, {"Accept": "application/json"}))
    try:
        data = json.loads(response.body) if response.status == 200 else None
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"keys": []}


async def verified(inputs: "list[SignatureInput]") -> PrecomputedVerifier:
    verifier = PrecomputedVerifier()
    for checked in inputs:
        verifier.record(checked, await browser.webcrypto_verify(checked))
    return verifier
