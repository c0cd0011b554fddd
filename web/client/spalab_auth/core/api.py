"""Calling a protected resource with a Bearer (RFC 6750) or DPoP-bound (RFC 9449 §7) token, and reading its refusals."""

import json

from .discovery import ProviderMetadata
from .encoding import parse_json_object
from .errors import ApiError, ConfigurationError
from .messages import JSON_CONTENT_TYPE, HttpRequest, HttpResponse, media_type
from .urls import split_url

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


def build_api_request(
    url: str,
    access_token: str,
    method: str = "GET",
    body: "str | None" = None,
    content_type: "str | None" = None,
    token_type: str = "Bearer",
    proof: "str | None" = None,
) -> HttpRequest:
    """The token goes in the Authorization header only, never the URL (RFC 6750 §2.1, RFC 9700 §2.4).
    A DPoP-bound token goes as ``Authorization: DPoP`` with its proof in the ``DPoP`` header
    (RFC 9449 §7.1); a bound token sent as Bearer would be refused, and must never be."""
    check_bearer_token(access_token)
    # RFC 6750 §5.3 / RFC 9700 §4.3.2: a token in the query leaks into logs and Referer
    if "access_token=" in split_url(url)[1]:
        raise ConfigurationError("access_token in the URL", reason="token_in_url", parameter="access_token")
    scheme = _scheme(token_type)
    headers = {"Authorization": scheme + " " + access_token, "Accept": JSON_CONTENT_TYPE}
    if scheme == "DPoP":
        # RFC 9449 §7.1: a DPoP-bound token is always accompanied by a proof
        if not proof:
            raise ConfigurationError("a DPoP token needs a proof", reason="missing_dpop_proof", parameter="DPoP")
        headers["DPoP"] = proof
    elif proof:
        raise ConfigurationError("a proof goes with a DPoP token only", reason="unexpected_dpop_proof")
    if content_type:
        headers["Content-Type"] = content_type
    return HttpRequest(method, url, headers, body)


def _scheme(token_type: str) -> str:
    # RFC 6749 §7.1, RFC 9449 §5: the token type names the scheme, compared case-insensitively
    lowered = token_type.lower() if isinstance(token_type, str) else ""
    if lowered == "bearer":
        return "Bearer"
    if lowered == "dpop":
        return "DPoP"
    raise ConfigurationError("unsupported token type", reason="unsupported_token_type", parameter="token_type")


def check_bearer_token(access_token: str) -> None:
    """Refuse values that are not a b64token, so nothing can be smuggled into a header."""
    if not isinstance(access_token, str) or not access_token:
        raise ConfigurationError("no access token", reason="invalid_access_token", parameter="access_token")
    body = access_token.rstrip("=")
    for char in body:
        # RFC 6750 §2.1: the credentials are a b64token
        if char not in _B64TOKEN:
            raise ConfigurationError(
                "access token is not a b64token", reason="invalid_access_token", parameter="access_token"
            )
    if not body:
        raise ConfigurationError(
            "access token is only padding", reason="invalid_access_token", parameter="access_token"
        )


def build_userinfo_request(
    metadata: ProviderMetadata, access_token: str, token_type: str = "Bearer", proof: "str | None" = None
) -> HttpRequest:
    """GET the UserInfo endpoint (OIDC Core §5.3.1)."""
    if not metadata.userinfo_endpoint:
        raise ConfigurationError("no userinfo_endpoint", reason="missing_endpoint", parameter="userinfo_endpoint")
    return build_api_request(metadata.userinfo_endpoint, access_token, token_type=token_type, proof=proof)


def parse_api_response(response: HttpResponse) -> object:
    """The decoded body of a 2xx answer (JSON when labelled so), else ApiError."""
    # RFC 6750 §3: a refusal names its reason in WWW-Authenticate
    if not 200 <= response.status < 300:
        raise api_error(response)
    if media_type(response.header("content-type")) == JSON_CONTENT_TYPE:
        try:
            return json.loads(response.body)
        except ValueError:
            raise ApiError("API answered malformed JSON", status=response.status, reason="invalid_json") from None
    return response.body


def parse_userinfo_response(response: HttpResponse, expected_sub: str) -> "dict[str, Any]":
    """UserInfo claims, whose ``sub`` must be the ID token's (OIDC Core §5.3.4)."""
    if not 200 <= response.status < 300:
        raise api_error(response)
    claims = parse_json_object(response.body, ApiError)
    # OIDC Core §5.3.4: sub must match the ID token's, or the response must not be used
    if claims.get("sub") != expected_sub:
        raise ApiError("userinfo sub differs", status=response.status, reason="sub_mismatch", parameter="sub")
    return claims


def api_error(response: HttpResponse) -> ApiError:
    """ApiError with the error code of the Bearer (RFC 6750 §3.1) or DPoP (RFC 9449 §7.1) challenge, if any."""
    # RFC 9449 §7.2: a resource may offer both schemes; the one that names an error says why
    bearer, dpop = bearer_challenge(response.header("www-authenticate") or ""), challenge_params(response, "dpop")
    challenge = dpop if "error" in dpop and "error" not in bearer else bearer or dpop
    error = challenge.get("error")
    reason = "error_response" if error else "http_status"
    return ApiError(
        "API refused the request",
        status=response.status,
        error=error,
        error_description=challenge.get("error_description"),
        reason=reason,
    )


def bearer_challenge(header: str) -> "dict[str, str]":
    """Parameters of the Bearer challenge in a WWW-Authenticate value (RFC 9110 §11.6.1)."""
    return _challenge(header, "bearer")


def challenge_params(response: HttpResponse, scheme: str) -> "dict[str, str]":
    """Parameters of the response's WWW-Authenticate challenge for ``scheme`` ("bearer", "dpop")."""
    return _challenge(response.header("www-authenticate") or "", scheme)


def _challenge(header: str, scheme: str) -> "dict[str, str]":
    for name, params in parse_challenges(header):
        if name.lower() == scheme:
            return params
    return {}


def parse_challenges(header: str) -> "list[tuple[str, dict[str, str]]]":
    """``[(scheme, {param: value})]`` from a WWW-Authenticate value; token68 is ignored."""
    challenges = []  # type: list[tuple[str, dict[str, str]]]
    index = 0
    while index < len(header):
        index = _skip(header, index, " \t,")
        token, after = _read_token(header, index)
        if not token:
            index = after + 1
            continue
        equals = _skip(header, after, " \t")
        if equals < len(header) and header[equals] == "=" and challenges:
            value, index = _read_value(header, _skip(header, equals + 1, " \t"))
            challenges[-1][1][token.lower()] = value
        else:
            challenges.append((token, {}))
            index = after
    return challenges


def _skip(text: str, index: int, chars: str) -> int:
    while index < len(text) and text[index] in chars:
        index += 1
    return index


def _read_token(text: str, index: int) -> "tuple[str, int]":
    start = index
    while index < len(text) and text[index] not in ' \t,="':
        index += 1
    return text[start:index], index


def _read_value(text: str, index: int) -> "tuple[str, int]":
    if index >= len(text) or text[index] != '"':
        return _read_token(text, index)
    out = []
    index += 1
    while index < len(text) and text[index] != '"':
        # RFC 9110 §5.6.4: a backslash quotes the next character
        if text[index] == "\\" and index + 1 < len(text):
            index += 1
        out.append(text[index])
        index += 1
    return "".join(out), index + 1
