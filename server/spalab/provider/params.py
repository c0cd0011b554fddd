"""Strict parameter parsing for every endpoint (docs/SECURITY.md P22).

Anything a browser or client can send arrives here first: invalid UTF-8,
repeated names, over-long values, control characters, wrong content types.
Each is refused with `invalid_request` naming the parameter, never a 500.
"""

import re
from urllib.parse import parse_qsl

from starlette.requests import Request

from .core.errors import InvalidRequest

MAX_BODY = 64 * 1024
MAX_VALUE = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FIELDS = 64
FORM_TYPE = "application/x-www-form-urlencoded"

MultiParams = dict[str, list[str]]


def parse_multi(raw: bytes) -> MultiParams:
    """Decodes a query string or form body into name → values."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InvalidRequest("parameters are not valid UTF-8") from None
    except ValueError:
        raise InvalidRequest("too many parameters") from None
    multi: MultiParams = {}
    for name, value in pairs:
        _check_text(name, value)
        # RFC 6749 §3.1: parameters sent without a value are treated as omitted.
        if value != "":
            multi.setdefault(name, []).append(value)
    return multi


def _check_text(name: str, value: str) -> None:
    if len(value) > MAX_VALUE or len(name) > 128:
        raise InvalidRequest(f"parameter {name[:40]!r} is too long")
    if _CONTROL.search(name) or _CONTROL.search(value):
        raise InvalidRequest(f"parameter {name[:40]!r} contains control characters")


def single(multi: MultiParams, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """RFC 6749 §3.1: request parameters must not be included more than once."""
    params: dict[str, str] = {}
    for name, values in multi.items():
        if only is not None and name not in only:
            continue
        if len(values) > 1:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        params[name] = values[0]
    return params


def query_params(request: Request) -> MultiParams:
    return parse_multi(request.scope.get("query_string", b""))


async def form_params(request: Request) -> MultiParams:
    """Reads an application/x-www-form-urlencoded body (RFC 6749 §3.2)."""
    content_type = request.headers.get("content-type", "")
    media_type, _, options = content_type.partition(";")
    if media_type.strip().lower() != FORM_TYPE:
        raise InvalidRequest(f"the body must be {FORM_TYPE}")
    charset = options.strip().lower()
    if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
        raise InvalidRequest("the body must be UTF-8")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise InvalidRequest("the body is too large")
    return parse_multi(bytes(body))
