"""The pinned front-end packages (web/package.json) and their versioned URLs.

Each is served at /vendor/<name>@<version>/, the version read once from the
package's own package.json: a new version is a new URL, so a browser may keep
these files for a year without asking. Pages keep writing /vendor/<name>/ in
their source; the host rewrites that as it serves them."""

import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from .assets import AssetFiles

# name in the URL: (npm package, the directory inside it that is served)
VENDOR = {
    "pyscript": ("@pyscript/core", "dist"),
    "pyodide": ("pyodide", ""),
    "micropython": ("@micropython/micropython-webassembly-pyscript", ""),
    "oidc-client-ts": ("oidc-client-ts", "dist/browser"),
}

_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]*")  # npm's semver, safe in a URL path


class Vendored(NamedTuple):
    name: str
    version: str
    directory: Path

    @property
    def prefix(self) -> str:
        return f"/vendor/{self.name}@{self.version}/"


def find_vendored(modules: Path) -> list[Vendored]:
    """The packages installed under `modules` (web/node_modules), with their versions."""
    found = []
    for name, (package, sub) in VENDOR.items():
        manifest = modules / package / "package.json"
        if not manifest.is_file() or not (modules / package / sub).is_dir():
            continue
        version = json.loads(manifest.read_text())["version"]
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise ValueError(f"{manifest}: unexpected version {version!r}")
        found.append(Vendored(name, version, modules / package / sub))
    return found


class VendorURLs:
    """Rewrites /vendor/<name>/ to /vendor/<name>@<version>/ in served pages and configs."""

    def __init__(self, vendored: list[Vendored]) -> None:
        self.pairs = [(f"/vendor/{v.name}/", v.prefix) for v in vendored]

    def __call__(self, page: bytes) -> bytes:
        for plain, versioned in self.pairs:
            page = page.replace(plain.encode(), versioned.encode())
        return page

    def text(self, text: str) -> str:
        return self(text.encode()).decode()


class RuntimeFiles(AssetFiles):
    """Only the interpreters' runtime files: the packages also ship demo pages
    (e.g. pyodide/console.html) that load from a CDN, and those stay unreachable."""

    SUFFIXES = (".mjs", ".js", ".wasm", ".zip", ".json", ".css", ".map", ".whl")

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if not path.endswith(self.SUFFIXES):
            return "", None
        return super().lookup_path(path)
