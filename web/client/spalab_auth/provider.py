"""The provider as this page load knows it: its metadata and its keys, each fetched once,
and the WebCrypto signature checks the client core asks about (done before it asks)."""

import asyncio
import json

from . import browser
from .core import (
    DiscoveryError,
    HttpRequest,
    InvalidIdToken,
    IssuerMismatch,
    PrecomputedVerifier,
    ProviderMetadata,
    SignatureInput,
    build_authorization_server_request,
    build_discovery_request,
    decode_jwt,
    merge_authorization_server_metadata,
    parse_discovery_response,
    signature_input,
)

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


class Provider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.metadata = None  # type: ProviderMetadata | None
        self.jwks = None  # type: dict[str, Any] | None
        self.second_lookup = None  # type: str | None
        self._keys_loading = None  # type: asyncio.Event | None  # set when a fetch of the keys under way ends
        self._prefetch = None  # type: Any

    async def discover(self) -> ProviderMetadata:
        if self.metadata is None:
            request = build_discovery_request(self.issuer)
            self.metadata = parse_discovery_response(self.issuer, await browser.send(request))
        return self.metadata

    async def with_revocation(self) -> ProviderMetadata:
        """The metadata, with a revocation_endpoint if either document lists one: the RFC 8414
        document is fetched (once) only when the OpenID one has none. ``second_lookup`` then
        says what it gave, for the timeline."""
        metadata = await self.discover()
        if metadata.revocation_endpoint or self.second_lookup is not None:
            return metadata
        request = build_authorization_server_request(self.issuer)
        try:
            self.metadata = merge_authorization_server_metadata(metadata, await browser.send(request))
        except (DiscoveryError, IssuerMismatch, browser.NetworkError) as error:
            # RFC 8414 §3.3: an unusable or foreign document contributes nothing (C2)
            self.second_lookup = "GET " + request.url + ": not used (" + _why(error) + ")"
            return metadata
        found = "revocation_endpoint" if self.metadata.revocation_endpoint else "no revocation_endpoint"
        self.second_lookup = "GET " + request.url + ": " + found
        return self.metadata

    async def keys(self) -> "dict[str, Any]":
        """The key set, fetched once: a caller that asks while a fetch is under way waits for it
        (and, if that fetch failed, makes its own)."""
        while self.jwks is None:
            if self._keys_loading is not None:
                await self._keys_loading.wait()
                continue
            loading = self._keys_loading = asyncio.Event()
            try:
                jwks_uri = (await self.discover()).jwks_uri
                self.jwks = await _fetch_jwks(jwks_uri) if jwks_uri else {"keys": []}
            finally:
                self._keys_loading = None
                loading.set()
        return self.jwks

    def prefetch_keys(self) -> None:
        """Starts fetching the keys now, in the background (the token exchange calls it as its request
        leaves, so that the keys that check the ID token arrive with the tokens instead of after)."""
        if self.jwks is None and self._keys_loading is None:
            # Held, so the task is not collected before it ends (asyncio keeps only a weak reference).
            self._prefetch = asyncio.create_task(self._prefetch_keys())

    async def _prefetch_keys(self) -> None:
        try:
            await self.keys()
        except Exception:  # noqa: BLE001 - nothing is lost: keys() fetches again when needed and reports it
            pass

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


def _why(error: Exception) -> str:
    if isinstance(error, browser.NetworkError):
        return "unreachable"
    return getattr(error, "reason", None) or type(error).__name__


async def verified(inputs: "list[SignatureInput]") -> PrecomputedVerifier:
    verifier = PrecomputedVerifier()
    for checked in inputs:
        verifier.record(checked, await browser.webcrypto_verify(checked))
    return verifier
