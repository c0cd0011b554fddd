"""Serving files well: a negotiated content coding (RFC 9110 §12.5.3), gzip and
brotli bodies compressed once and kept in memory, Cache-Control, and validators
so that a revisit costs a 304 (RFC 9110 §13)."""

import gzip
import hashlib
import mimetypes
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from email.utils import mktime_tz, parsedate_tz
from functools import partial
from typing import NamedTuple

import anyio.to_thread
import brotli
from starlette.datastructures import Headers, QueryParams
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"  # versioned URLs: a new version is a new URL
REVALIDATE = "no-cache"  # may be stored, but asked about (ETag) before each reuse

COMPRESSIBLE = (".js", ".mjs", ".wasm", ".json", ".css", ".html", ".py", ".map", ".txt")
MIN_COMPRESS = 1024  # below this the coding's framing and the extra header eat the gain
CODINGS = ("br", "gzip")  # our preference when the client weighs them equally
# pyodide.asm.wasm (9.6 MB) on the dev box: brotli q6 0.2-0.5 s → 3.15 MB; q9 1-2 s → 3.10 MB;
# q11 31 s → 2.74 MB. q6 keeps a cold first request under a second; see README "Compression".
BROTLI_QUALITY = 6
GZIP_LEVEL = 6

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def parse_accept_encoding(value: str) -> dict[str, float] | None:
    """Coding → weight, or None when the field is malformed (then only identity is safe)."""
    weights: dict[str, float] = {}
    for element in value.split(","):
        coding, semicolon, parameter = element.strip().partition(";")
        coding = coding.strip().lower()
        if not coding and not semicolon:
            continue  # RFC 9110 §5.6.1: empty list elements are ignored
        name, equals, qvalue = parameter.strip().partition("=")
        if not _TOKEN.fullmatch(coding) or (semicolon and not (name.strip().lower() == "q" and equals)):
            return None
        if semicolon and not _QVALUE.fullmatch(qvalue.strip()):
            return None
        # RFC 9110 §8.4.1.3: x-gzip is gzip.
        weights["gzip" if coding == "x-gzip" else coding] = float(qvalue) if semicolon else 1.0
    return weights


def negotiate(accept_encoding: str | None) -> str:
    """The coding to send, "br", "gzip" or "identity" (RFC 9110 §12.5.3)."""
    weights = parse_accept_encoding(accept_encoding) if accept_encoding is not None else None
    if not weights:
        return "identity"

    def weight(coding: str) -> float:
        # "*" stands for every coding not listed. An unlisted identity stays acceptable (the
        # fallback below) but is preferred over a coding only when weighted explicitly.
        return weights.get(coding, weights.get("*", 0.0))

    best = max(CODINGS, key=weight)  # the first of equals: br over gzip
    return best if weight(best) > 0 and weight(best) >= weight("identity") else "identity"


def encode(data: bytes, coding: str) -> bytes:
    if coding == "br":
        compressed: bytes = brotli.compress(data, quality=BROTLI_QUALITY)
        return compressed
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


class EncodedCache:
    """Compressed bodies, least recently used out first, at most `max_bytes` in all.
    Thread-safe: the warmer fills it while requests read it; a body being compressed
    for one request is waited for, not compressed again, by the next."""

    def __init__(self, max_bytes: int = 96 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._busy: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load: Callable[[], bytes], coding: str) -> bytes:
        with self._lock:
            if (hit := self._hit(key)) is not None:
                return hit
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:
            with self._lock:
                if (hit := self._hit(key)) is not None:
                    return hit
            try:
                body = encode(load(), coding)
            finally:
                with self._lock:
                    self._busy.pop(key, None)
            with self._lock:
                self._store(key, body)
        return body

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def _hit(self, key: Hashable) -> bytes | None:
        if key in self._items:
            self._items.move_to_end(key)
        return self._items.get(key)

    def _store(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes or key in self._items:
            return
        self._items[key] = body
        self.size += len(body)
        while self.size > self.max_bytes:
            self.size -= len(self._items.popitem(last=False)[1])


class Source(NamedTuple):
    """A representation before its bytes are read: enough to negotiate and validate."""

    key: tuple[Hashable, ...]  # changes whenever the identity bytes do
    etag: str  # strong, of the identity bytes
    last_modified: str | None
    media_type: str
    compressible: bool
    load: Callable[[], bytes]


def file_source(path: str, stat: os.stat_result, rewrite: Callable[[bytes], bytes] | None = None) -> Source:
    """A file, described as FileResponse would; with `rewrite`, its transformed bytes
    (read now: only small pages are rewritten)."""
    if rewrite is not None:
        return bytes_source(rewrite(_read(path)), _media_type(path))
    response = FileResponse(path, stat_result=stat)
    etag, last_modified = response.headers["etag"], response.headers["last-modified"]
    key = (path, stat.st_mtime_ns, stat.st_size)
    return Source(key, etag, last_modified, _media_type(path), compressible(path, stat.st_size), partial(_read, path))


def bytes_source(body: bytes, media_type: str) -> Source:
    """Bytes made in memory: their ETag is their hash, and they have no Last-Modified
    (they depend on more than one file's date)."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return Source((etag,), etag, None, media_type, len(body) >= MIN_COMPRESS, lambda: body)


_versions: dict[tuple[str, int, int], str] = {}
_versions_lock = threading.Lock()


def content_version(path: str) -> str:
    """A short hash of a file's bytes, for ?v= URLs that may be cached as immutable:
    an edited file gets another version, hence another URL."""
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _versions_lock:
        if key in _versions:
            return _versions[key]
    version = hashlib.sha256(_read(path)).hexdigest()[:16]
    with _versions_lock:
        if len(_versions) > 4096:
            _versions.clear()
        _versions[key] = version
    return version


def compressible(path: str, size: int) -> bool:
    return path.endswith(COMPRESSIBLE) and size >= MIN_COMPRESS


def negotiated_response(scope: Scope, source: Source, cache_control: str, cache: EncodedCache) -> Response:
    """200 or 304, in the coding the client prefers; the body is read (and compressed,
    once, in a worker thread) only when sent."""
    request = Headers(scope=scope)
    coding = negotiate(request.get("accept-encoding")) if source.compressible else "identity"
    headers = {"content-type": source.media_type, "cache-control": cache_control, "etag": source.etag}
    if coding != "identity":
        # Not the identity's strong ETag: another body, equivalent but not byte-equal.
        headers.update({"content-encoding": coding, "etag": f'W/"{source.etag.strip(chr(34))}-{coding}"'})
    if source.compressible:
        headers["vary"] = "Accept-Encoding"
    if source.last_modified:
        headers["last-modified"] = source.last_modified
    if not_modified(request, headers["etag"], source.last_modified):
        return NotModifiedResponse(Headers(headers))
    if coding == "identity":
        return LazyBodyResponse(headers, source.load)
    return LazyBodyResponse(headers, partial(cache.get, source.key + (coding,), source.load, coding))


def versioned_response(scope: Scope, source: Source, version: str, cache: EncodedCache) -> Response:
    """`source` as a versioned URL names it (?v=<version of its bytes>): immutable when asked for with its
    current version, revalidated otherwise (an older page's URL, or none)."""
    current = QueryParams(scope.get("query_string", b"")).get("v") == version
    return negotiated_response(scope, source, IMMUTABLE if current else REVALIDATE, cache)


def not_modified(request: Headers, etag: str, last_modified: str | None) -> bool:
    """RFC 9110 §13.1.2 (weak comparison) and §13.1.3; If-None-Match, when sent, decides."""
    if (if_none_match := request.get("if-none-match")) is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    since, modified = _http_date(request.get("if-modified-since")), _http_date(last_modified)
    return since is not None and modified is not None and modified <= since


class LazyBodyResponse(Response):
    """Headers now, the body when sent (in a worker thread: compressing can take a while).
    Content-Length is the body's, for HEAD too, which gets no body."""

    def __init__(self, headers: dict[str, str], produce: Callable[[], bytes]) -> None:
        self.status_code = 200
        self.background = None
        self.produce = produce
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await anyio.to_thread.run_sync(self.produce)
        self.headers["content-length"] = str(len(body))
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class AssetFiles(StaticFiles):
    """StaticFiles with a Cache-Control policy and negotiated gzip/brotli bodies; with
    `rewrite`, .html files are transformed as served. Identity bodies of plain files stay
    FileResponse, which streams them and answers Range requests."""

    def __init__(
        self,
        *,
        directory: os.PathLike[str],
        cache: EncodedCache,
        cache_control: str,
        rewrite: Callable[[bytes], bytes] | None = None,
        html: bool = False,
        page_cache_control: str | None = None,
    ) -> None:
        """`page_cache_control`, when given, replaces `cache_control` for .html documents."""
        super().__init__(directory=directory, html=html)
        self.cache = cache
        self.cache_control = cache_control
        self.page_cache_control = page_cache_control
        self.rewrite = rewrite

    def _policy(self, path: str, scope: Scope) -> str:
        if self.page_cache_control is not None and path.endswith(".html"):
            return self.page_cache_control
        return self.cache_control

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        path = os.fspath(full_path)
        rewrite = self.rewrite if path.endswith(".html") else None
        request = Headers(scope=scope)
        if rewrite is None and (
            not compressible(path, stat_result.st_size)
            or "range" in request
            or negotiate(request.get("accept-encoding")) == "identity"
        ):
            return self._identity_file(path, stat_result, request, self._policy(path, scope))
        return negotiated_response(
            scope, file_source(path, stat_result, rewrite), self._policy(path, scope), self.cache
        )

    def _identity_file(self, path: str, stat: os.stat_result, request: Headers, cache_control: str) -> Response:
        headers = {"cache-control": cache_control}
        if compressible(path, stat.st_size):
            headers["vary"] = "Accept-Encoding"
        response = FileResponse(path, stat_result=stat, headers=headers)
        if not_modified(request, response.headers["etag"], response.headers["last-modified"]):
            return NotModifiedResponse(response.headers)
        return response


def warm(cache: EncodedCache, directories: Iterable[os.PathLike[str]], suffixes: tuple[str, ...]) -> None:
    """Compress (brotli, what browsers ask for) every file a first visit may fetch."""
    for directory in directories:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = os.path.realpath(entry.path)
            if entry.is_file() and entry.name.endswith(suffixes) and compressible(path, entry.stat().st_size):
                source = file_source(path, os.stat(path))
                cache.get(source.key + ("br",), source.load, "br")


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _media_type(path: str) -> str:
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return media_type + "; charset=utf-8" if media_type.startswith("text/") else media_type


def _http_date(value: str | None) -> int | None:
    """Seconds since the epoch, or None for a date that is absent or invalid (RFC 9110 §13.1.3:
    then the condition is ignored)."""
    parsed = parsedate_tz(value) if value else None
    try:
        return mktime_tz(parsed) if parsed else None
    except (OverflowError, ValueError):  # a year past 9999 or out of the platform's range
        return None
