"""Provider metadata: OpenID Connect Discovery 1.0 §4 and RFC 8414 (OAuth 2.0
Authorization Server Metadata). Build the request, then validate the response."""

import json

from .encoding import parse_json_object
from .errors import DiscoveryError, IssuerMismatch
from .messages import JSON_CONTENT_TYPE, HttpRequest, HttpResponse, media_type
from .urls import is_secure_url

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

OPENID_CONFIGURATION = "openid-configuration"
OAUTH_AUTHORIZATION_SERVER = "oauth-authorization-server"

_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
)
_LISTS = (
    "response_types_supported",
    "response_modes_supported",
    "code_challenge_methods_supported",
    "id_token_signing_alg_values_supported",
    "dpop_signing_alg_values_supported",
)
_DEFAULT_RESPONSE_MODES = ["query", "fragment"]
# Optional endpoints an OpenID provider may list only in its RFC 8414 document.
MERGED_ENDPOINTS = ("revocation_endpoint", "introspection_endpoint")


class ProviderMetadata:
    """The validated metadata fields the client uses, plus the raw document."""

    __slots__ = ("issuer",) + _ENDPOINTS + _LISTS + ("authorization_response_iss_parameter_supported", "raw")

    def __init__(self, raw: "dict[str, Any]") -> None:
        """Wrap a document that ``validate_metadata`` has checked."""
        self.raw = raw
        self.issuer = str(raw["issuer"])
        self.authorization_endpoint = str(raw["authorization_endpoint"])
        self.token_endpoint = raw.get("token_endpoint")  # type: str | None
        self.revocation_endpoint = raw.get("revocation_endpoint")  # type: str | None
        self.introspection_endpoint = raw.get("introspection_endpoint")  # type: str | None
        self.userinfo_endpoint = raw.get("userinfo_endpoint")  # type: str | None
        self.jwks_uri = raw.get("jwks_uri")  # type: str | None
        # OpenID Connect RP-Initiated Logout 1.0 §2.1
        self.end_session_endpoint = raw.get("end_session_endpoint")  # type: str | None
        self.response_types_supported = list(raw["response_types_supported"])  # type: list[str]
        # OIDC Discovery §3: response_modes_supported defaults to ["query", "fragment"]
        modes = raw.get("response_modes_supported") or _DEFAULT_RESPONSE_MODES
        self.response_modes_supported = list(modes)  # type: list[str]
        methods = raw.get("code_challenge_methods_supported") or []
        self.code_challenge_methods_supported = list(methods)  # type: list[str]
        algs = raw.get("id_token_signing_alg_values_supported") or []
        self.id_token_signing_alg_values_supported = list(algs)  # type: list[str]
        # RFC 9449 §5.1: the algorithms the provider accepts for DPoP proofs; absent: no DPoP
        dpop_algs = raw.get("dpop_signing_alg_values_supported") or []
        self.dpop_signing_alg_values_supported = list(dpop_algs)  # type: list[str]
        # RFC 9207 §3: only a JSON true advertises iss support
        self.authorization_response_iss_parameter_supported = (
            raw.get("authorization_response_iss_parameter_supported") is True
        )

    def supports_pkce_s256(self) -> bool:
        # RFC 8414 §2: an absent code_challenge_methods_supported means no PKCE support.
        return "S256" in self.code_challenge_methods_supported

    def to_json(self) -> str:
        return json.dumps(self.raw)

    @classmethod
    def from_json(cls, text: str, issuer: str) -> "ProviderMetadata":
        """Rehydrate cached metadata, re-running every check of a fresh discovery."""
        return validate_metadata(parse_json_object(text, DiscoveryError), issuer)

    def __repr__(self) -> str:
        return "ProviderMetadata(issuer=%r)" % (self.issuer,)


def discovery_url(issuer: str, well_known: str = OPENID_CONFIGURATION) -> str:
    """Where the metadata lives for ``issuer``.

    OIDC Discovery §4 appends to the issuer path; RFC 8414 §3.1 inserts the
    well-known segment between the host and the issuer path.
    """
    if well_known == OPENID_CONFIGURATION:
        return issuer.rstrip("/") + "/.well-known/" + OPENID_CONFIGURATION
    scheme, _, rest = issuer.partition("://")
    host, slash, path = rest.partition("/")
    suffix = "/" + path.rstrip("/") if slash and path.rstrip("/") else ""
    return scheme + "://" + host + "/.well-known/" + well_known + suffix


def build_discovery_request(issuer: str, well_known: str = OPENID_CONFIGURATION) -> HttpRequest:
    """GET the metadata document (OIDC Discovery §4.1, RFC 8414 §3.1)."""
    if well_known not in (OPENID_CONFIGURATION, OAUTH_AUTHORIZATION_SERVER):
        raise DiscoveryError("unknown well-known suffix", reason="well_known")
    url = discovery_url(issuer, well_known)
    return HttpRequest("GET", url, {"Accept": JSON_CONTENT_TYPE})


def parse_discovery_response(issuer: str, response: HttpResponse, require_code_flow: bool = True) -> ProviderMetadata:
    """Validate a metadata response for the configured ``issuer`` (OIDC Discovery §4.3, RFC 8414 §3.3)."""
    metadata = validate_metadata(_metadata_object(response), issuer)
    if require_code_flow:
        check_code_flow_support(metadata)
    return metadata


def build_authorization_server_request(issuer: str) -> HttpRequest:
    """GET the RFC 8414 document, for endpoints the OpenID document leaves out (RFC 8414 §3.1)."""
    return build_discovery_request(issuer, OAUTH_AUTHORIZATION_SERVER)


def merge_authorization_server_metadata(metadata: ProviderMetadata, response: HttpResponse) -> ProviderMetadata:
    """``metadata`` plus the MERGED_ENDPOINTS it lacks, taken from the RFC 8414 response.

    Only the missing optional endpoints are taken; what ``metadata`` already says wins.
    """
    other = _metadata_object(response)
    # RFC 8414 §3.3: a document whose issuer differs from the configured one is not used (C2)
    if other.get("issuer") != metadata.issuer:
        raise IssuerMismatch("discovered issuer differs", reason="discovered_issuer", parameter="issuer")
    merged = dict(metadata.raw)
    for name in MERGED_ENDPOINTS:
        if name in other and not merged.get(name):
            merged[name] = other[name]
    # RFC 8414 §2: the merged endpoints pass the same https / no-fragment checks
    return validate_metadata(merged, metadata.issuer)


def validate_metadata(raw: "dict[str, Any]", issuer: str) -> ProviderMetadata:
    """The checks every metadata document must pass, wherever it came from."""
    # RFC 8414 §3.3 / OIDC Discovery §4.3: issuer must be identical to the configured one (C2)
    if raw.get("issuer") != issuer:
        raise IssuerMismatch("discovered issuer differs", reason="discovered_issuer", parameter="issuer")
    # RFC 8414 §2: authorization_endpoint is required for the flows this client uses
    if not raw.get("authorization_endpoint"):
        raise DiscoveryError("no authorization_endpoint", reason="missing_endpoint", parameter="authorization_endpoint")
    # RFC 8414 §2: response_types_supported is required
    if not _is_string_list(raw.get("response_types_supported")):
        raise DiscoveryError(
            "no response_types_supported", reason="missing_parameter", parameter="response_types_supported"
        )
    for name in _ENDPOINTS:
        _check_endpoint(raw, name)
    for name in _LISTS:
        # RFC 8414 §2: these members are JSON arrays of strings
        if name in raw and not _is_string_list(raw[name]):
            raise DiscoveryError("malformed " + name, reason="malformed_parameter", parameter=name)
    return ProviderMetadata(raw)


def check_code_flow_support(metadata: ProviderMetadata) -> None:
    """The provider can run authorization code + PKCE S256 (RFC 9700 §2.1.1)."""
    # RFC 8414 §2: token_endpoint is required unless only the implicit grant is supported
    if not metadata.token_endpoint:
        raise DiscoveryError("no token_endpoint", reason="missing_endpoint", parameter="token_endpoint")
    # RFC 6749 §3.1.1: the provider must offer response_type=code
    if "code" not in metadata.response_types_supported:
        raise DiscoveryError(
            "code flow not offered", reason="unsupported_response_type", parameter="response_types_supported"
        )
    # RFC 9700 §2.1.1: PKCE with S256 is required for the code flow (C3)
    if not metadata.supports_pkce_s256():
        raise DiscoveryError(
            "S256 not offered", reason="pkce_s256_unsupported", parameter="code_challenge_methods_supported"
        )


def check_dpop_support(metadata: ProviderMetadata, alg: str = "ES256") -> None:
    """RFC 9449 §5.1: a provider that lists its DPoP algorithms must accept the one the client signs
    with (ES256: WebCrypto makes non-extractable P-256 keys everywhere). One that lists none may
    still bind: the token response then tells (token_type DPoP, or the sign-in is refused)."""
    algs = metadata.dpop_signing_alg_values_supported
    if algs and alg not in algs:
        raise DiscoveryError(
            "the provider does not accept " + alg + " DPoP proofs",
            reason="dpop_alg_unsupported",
            parameter="dpop_signing_alg_values_supported",
        )


def _metadata_object(response: HttpResponse) -> "dict[str, Any]":
    """The JSON object of a metadata response (RFC 8414 §3.2)."""
    # RFC 8414 §3.2: a successful response uses the 200 OK status code
    if response.status != 200:
        raise DiscoveryError("metadata request failed", reason="http_status")
    # RFC 8414 §3.2: the body is application/json
    if media_type(response.header("content-type")) != JSON_CONTENT_TYPE:
        raise DiscoveryError("metadata is not application/json", reason="content_type")
    return parse_json_object(response.body, DiscoveryError)


def _check_endpoint(raw: "dict[str, Any]", name: str) -> None:
    if name not in raw:
        return
    # RFC 8414 §2: endpoints are https URLs (loopback http tolerated for development)
    if not is_secure_url(raw[name]):
        raise DiscoveryError("insecure or malformed endpoint", reason="insecure_endpoint", parameter=name)
    # RFC 6749 §3.1: endpoint URIs must not include a fragment
    if "#" in raw[name]:
        raise DiscoveryError("endpoint has a fragment", reason="endpoint_has_fragment", parameter=name)


def _is_string_list(value: object) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:
        if not isinstance(item, str):
            return False
    return True
