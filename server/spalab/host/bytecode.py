"""The spalab-auth wheel for the pinned Pyodide, with its modules already compiled (issue 15).

A Pyodide page installs the package's wheel and imports it; CPython then compiles every module from source,
in the page, at every visit (the compiled files it writes go to an in-memory file system that the next
visit does not have). Measured in the SPA's page after a restore: importing spalab_auth took 55–100 ms in
Chromium and 70–80 ms in Firefox from source, 10–25 ms from bytecode.

So the host compiles them, once per package build and Pyodide version: Node (`pyodide-compile.mjs` beside
this module) runs the pinned Pyodide on the wheel's modules, in an empty environment and a throwaway
directory, and the host serves the same wheel with each module's `__pycache__/<name>.<cache tag>.pyc` added
(and listed in its RECORD), at <the package's immutable prefix>pyodide-<hash of its bytes>/<wheel file>,
compressed for the wire as a whole. The configs that name the pinned Pyodide name that wheel; any other
interpreter gets the plain one.

The .pyc files are "unchecked hash" ones (PEP 552): the import system uses them without looking at the
source's timestamp, which a wheel's unpacking does not keep. So a .pyc must never travel beside a source
it was not compiled from (docs/SECURITY.md H10): each records the hash of its source, and the host checks
every one against the module it serves beside it (verify), whatever the cache's name says. A Pyodide with
another bytecode format reads a .pyc's magic number, refuses it and compiles the source, as before.

The compiled files are kept in node_modules/.cache/spalab/ as a zip named by what they were made from and by
a hash of its own bytes (a damaged one is made again). Without Node, or when compiling fails, the pages get
the plain wheel and the host says so once."""

import _imp
import base64
import hashlib
import logging
import subprocess
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

from . import buildcache
from .node import failure, run_on_pyodide
from .package import BuiltWheel
from .vendor import Vendored

logger = logging.getLogger("spalab.host")

COMPILER = Path(__file__).parent / "pyodide-compile.mjs"
COMPILE_TIMEOUT = 120  # s; about 1.7 s on the 2-core dev box
KIND = "spalab-auth-"  # its files' names start so in the build cache
SUFFIX = ".zip"  # in the build cache (buildcache.py)
WHEN = (1980, 1, 1, 0, 0, 0)  # the .pyc entries' zip dates: none to speak of (their unchecked hashes decide)


def _stem(wheel: BuiltWheel, pyodide: Vendored) -> str:
    """What the compiled files depend on: the package's sources, the Pyodide release and the compiler."""
    digest = hashlib.sha256(f"{wheel.digest}\0{pyodide.version}\0".encode() + COMPILER.read_bytes())
    return f"{KIND}{wheel.digest}-pyodide-{pyodide.version}-{digest.hexdigest()[:12]}"


def _compile(wheel: BuiltWheel, pyodide: Vendored, node: str) -> bytes:
    """The .pyc files of the wheel's modules, as a zip of their paths in the wheel. Raises on failure."""
    with tempfile.TemporaryDirectory(prefix="spalab-pyodide-compile-") as directory:
        tree = Path(directory)
        for name, source in wheel.modules.items():
            path = tree / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source)
        run_on_pyodide(node, COMPILER, pyodide.directory, str(tree), timeout=COMPILE_TIMEOUT)
        compiled = BytesIO()
        with zipfile.ZipFile(compiled, "w", zipfile.ZIP_STORED) as out:
            for path in sorted(tree.rglob("__pycache__/*.pyc")):
                out.writestr(zipfile.ZipInfo(path.relative_to(tree).as_posix(), WHEN), path.read_bytes())
        return compiled.getvalue()


def verify(wheel: BuiltWheel, compiled: bytes) -> None:
    """Raises ValueError unless `compiled` holds exactly one unchecked-hash .pyc for each of the wheel's
    modules, where the import system looks for it, and each was compiled from that very module: its header
    holds the hash of the source it came from (PEP 552; the magic number keys the hash, so the host's CPython
    computes the one Pyodide's wrote). Whatever the cache's name says, a .pyc of other sources is refused."""
    with zipfile.ZipFile(BytesIO(compiled)) as pycs:
        names = set(pycs.namelist())
        for module, source in wheel.modules.items():
            folder, _, file = module.rpartition("/")
            where = f"{folder}/__pycache__/{file[:-3]}." if folder else f"__pycache__/{file[:-3]}."
            found = [n for n in names if n.startswith(where) and n.endswith(".pyc")]
            if len(found) != 1:
                raise ValueError(f"{module}: {len(found)} compiled files")
            names.remove(found[0])
            header = pycs.read(found[0])[:16]
            magic = int.from_bytes(header[:4], "little")
            if int.from_bytes(header[4:8], "little") != 0b01 or header[8:16] != _imp.source_hash(magic, source):
                raise ValueError(f"{found[0]} was not compiled from this {module}")
        if names:
            raise ValueError(f"compiled files of no module: {sorted(names)}")


def _cached_or_compiled(wheel: BuiltWheel, pyodide: Vendored, node: str) -> bytes:
    cache, stem = buildcache.directory(pyodide), _stem(wheel, pyodide)

    def checked(path: Path) -> bytes:
        body = path.read_bytes()
        buildcache.check_name(path, buildcache.version_of(BytesIO(body)))
        try:
            verify(wheel, body)
        except zipfile.BadZipFile as damaged:
            raise ValueError(damaged) from None
        return body

    found = buildcache.find(cache, stem, SUFFIX, checked)
    if found is not None:
        return found
    body = _compile(wheel, pyodide, node)
    verify(wheel, body)
    buildcache.store(cache, KIND, stem, SUFFIX, lambda partial: Path(partial).write_bytes(body))
    return body


def with_bytecode(wheel: BuiltWheel, compiled: bytes) -> bytes:
    """`wheel`'s bytes with the .pyc files in `compiled` added, each listed in the RECORD (PEP 376/427).
    Stored, not deflated: the host serves it compressed as a whole (brotli), which, across files that repeat
    each other's names and strings, is 150 KB where deflating each file made 245 KB."""
    out = BytesIO()
    with (
        zipfile.ZipFile(BytesIO(wheel.content)) as source,
        zipfile.ZipFile(BytesIO(compiled)) as pycs,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target,
    ):
        record_name = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        lines = []
        for name in pycs.namelist():
            body = pycs.read(name)
            target.writestr(zipfile.ZipInfo(name, WHEN), body)
            hashed = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
            lines.append(f"{name},sha256={hashed},{len(body)}\n")
        for info in source.infolist():
            body = source.read(info)
            if info.filename == record_name:
                body = body.decode().rstrip("\n").encode() + b"\n" + "".join(lines).encode()
            info.compress_type = zipfile.ZIP_STORED
            target.writestr(info, body)
    return out.getvalue()


class PyodideWheel:
    """The wheel with Pyodide's bytecode, and the URL it is served at."""

    def __init__(self, wheel: BuiltWheel, compiled: bytes) -> None:
        self.content = with_bytecode(wheel, compiled)
        self.version = hashlib.sha256(self.content).hexdigest()[:12]  # the URL names these very bytes
        self.url = f"{wheel.prefix}pyodide-{self.version}/{wheel.filename}"

    @classmethod
    def find_or_make(cls, wheel: BuiltWheel, pyodide: Vendored, node: str) -> "PyodideWheel | None":
        """Compiled with `node`, or found in the cache; None (the pages get the plain wheel) when compiling
        fails."""
        try:
            return cls(wheel, _cached_or_compiled(wheel, pyodide, node))
        except (OSError, ValueError, subprocess.SubprocessError, zipfile.BadZipFile) as failed:
            logger.warning("Pyodide pages compile spalab-auth's modules themselves: %s", failure(failed))
            return None
