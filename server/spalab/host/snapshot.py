"""Pyodide's memory snapshot, made and served by the host (issue 15).

A warm Pyodide page spent about 1.8 s of its 2.5 s starting the interpreter (CPython's initialisation and
its standard library's imports, with every file already in the HTTP cache). A memory snapshot of a started
interpreter (Pyodide's `_makeSnapshot` / `_loadSnapshot`, experimental) takes that away: the page restores
the WebAssembly memory instead of running the start.

Where a snapshot comes from is the security question (README, "A memory snapshot of Pyodide"). One the
browser makes and keeps (Cache API, IndexedDB) is code every script of the origin can replace, and an
injected script would then run on every later visit. This one is made here, once per pinned Pyodide, by
Node (`pyodide-snapshot.mjs` beside this module) and served like `pyodide.asm.wasm`: an immutable URL
named by a hash of its bytes, so the page reads it from the server or the HTTP cache, which no page script
can write. Nothing of this machine is in it: Node runs with an empty environment and a throwaway working
directory, Pyodide gets a browser's environment and program name, and the time zone is UTC.

What every visitor then shares, and why that is acceptable: the state the interpreter had when the host
made the snapshot. `str` hashes use one seed for every visitor (hash flooding is a server's concern, not a
browser tab's); the loader reseeds `random` from the browser's CSPRNG after each restore, and
`os.urandom` / `secrets` read `crypto.getRandomValues` at every call, so no secret comes from the
snapshot (spalab_auth's state, nonce and PKCE verifier come from `crypto.getRandomValues`).

Without Node (node.py) or when making one fails, the pages start Pyodide as before, and the host says so once."""

import hashlib
import logging
import os
import subprocess
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import buildcache
from .assets import EncodedCache, Source, bytes_source, file_source, versioned_response
from .node import failure, run_on_pyodide
from .vendor import Vendored, VendorURLs

logger = logging.getLogger("spalab.host")

MAKER = Path(__file__).parent / "pyodide-snapshot.mjs"
LOADER_SOURCE = Path(__file__).parent / "static" / "pyodide-loader.mjs"
LOADER = "/pyodide-loader.mjs"  # the Pyodide configs' interpreter module when there is a snapshot
SNAPSHOT = "/pyodide-snapshot"  # ?v=<version of its bytes>
MEDIA_TYPE = "application/octet-stream"
# What the snapshot depends on: another Pyodide, maker or Node is another snapshot.
INPUTS = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
MAKE_TIMEOUT = 120  # s; about 2 s on the 2-core dev box
KIND = "pyodide-"  # its files' names start so in the build cache
SUFFIX = ".snapshot"  # in the build cache (buildcache.py), 31 MB each


def _digest(paths: list[Path], extra: bytes) -> str:
    digest = hashlib.sha256(extra)
    for path in paths:
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:16]


def make_snapshot(pyodide: Path, node: str, cache: Path, stem: str) -> Path:
    """Runs the maker (Node, an empty environment, a throwaway working directory) and keeps its snapshot in
    `cache` (buildcache.store), whose path it returns. Raises on failure."""
    return buildcache.store(
        cache, KIND, stem, SUFFIX, lambda partial: run_on_pyodide(node, MAKER, pyodide, partial, timeout=MAKE_TIMEOUT)
    )


class PyodideSnapshot:
    """The snapshot file for the pinned Pyodide (made at start when there is none yet, kept in
    node_modules/.cache/spalab/ beside it) and the loader module that restores it. The file stays open:
    what is served is the file checked at start, whatever happens to its name meanwhile (an `npm ci`
    that empties node_modules, say)."""

    def __init__(self, path: Path, file: BinaryIO, version: str, urls: VendorURLs) -> None:
        self.path, self.file, self.version = path, file, version
        self.size = os.fstat(file.fileno()).st_size
        # Compressed like the other large files (brotli q6: 31 MB -> about 5.5 MB), once, then kept in memory.
        source = file_source(str(path), os.fstat(file.fileno()))
        self.source = source._replace(media_type=MEDIA_TYPE, compressible=True, load=self._read)
        self.loader = urls.text(LOADER_SOURCE.read_text()).encode()
        self.loader_version = hashlib.sha256(self.loader).hexdigest()[:16]

    def _read(self) -> bytes:
        body = os.pread(self.file.fileno(), self.size, 0)
        if len(body) != self.size:
            raise OSError(f"{self.path}: short read")
        return body

    @classmethod
    def open(cls, path: Path, urls: VendorURLs) -> "PyodideSnapshot":
        """The snapshot at `path`; ValueError when its bytes are not what its name says (damaged)."""
        file = path.open("rb")
        try:
            version = buildcache.version_of(file)
            buildcache.check_name(path, version)
        except (OSError, ValueError):
            file.close()
            raise
        return cls(path, file, version, urls)

    @classmethod
    def find_or_make(cls, pyodide: Vendored, urls: VendorURLs, node: str) -> "PyodideSnapshot | None":
        """The snapshot for `pyodide`, made now with `node` if this Pyodide, maker and Node have none yet (or
        only a damaged one, which is removed); None (the pages then start Pyodide without one) when making one
        fails."""
        try:
            version = subprocess.run(
                [node, "--version"], capture_output=True, check=True, timeout=30, env={"PATH": os.defpath}
            ).stdout
            stem = f"{KIND}{pyodide.version}-" + _digest([pyodide.directory / n for n in INPUTS] + [MAKER], version)
            cache = buildcache.directory(pyodide)
            found = buildcache.find(cache, stem, SUFFIX, lambda path: cls.open(path, urls))
            if found is not None:
                return found
            logger.info("making Pyodide's memory snapshot with %s (once for this Pyodide)", node)
            return cls.open(make_snapshot(pyodide.directory, node, cache, stem), urls)
        except (OSError, ValueError, subprocess.SubprocessError) as failed:
            logger.warning("Pyodide pages start without a memory snapshot: making one failed: %s", failure(failed))
            return None

    def loader_url(self) -> str:
        return f"{LOADER}?v={self.loader_version}&sv={self.version}"

    def routes(self, cache: EncodedCache) -> list[Route]:
        async def loader(request: Request) -> Response:
            source = bytes_source(self.loader, "text/javascript; charset=utf-8")
            return versioned_response(request.scope, source, self.loader_version, cache)

        async def snapshot(request: Request) -> Response:
            return versioned_response(request.scope, self.source, self.version, cache)

        return [Route(LOADER, loader), Route(SNAPSHOT, snapshot)]

    def warm(self, cache: EncodedCache) -> None:
        """Compress it now (brotli, what browsers ask for), rather than on a first visit."""
        source: Source = self.source
        cache.get(source.key + ("br",), source.load, "br")
