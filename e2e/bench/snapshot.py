"""Issue 15's experiment with Pyodide memory snapshots: `cd e2e && python -m bench.snapshot`.

Not shipped in the SPA (README, "Speed": a snapshot the browser stores is a place where an injected
script could leave code that every later visit runs). This measures what it would save and whether a
snapshot could be checked against a hash the server publishes, outside the SPA: a throwaway
loopback server serves the pinned web/node_modules/pyodide and one page, and in each engine

- **normal**: `loadPyodide()` with every file in the HTTP cache (the warm boot), `runs` times;
- **make**: `loadPyodide({_makeSnapshot: true})`, the imports below, `makeMemorySnapshot()`, stored
  with the Cache API (size, times), twice in fresh contexts: the two snapshots' SHA-256 and how many
  bytes differ (equal bytes would let a server publish the hash to check);
- **restore**: the snapshot read back from the Cache API, hashed (SHA-256, as a check would) and
  passed as `_loadSnapshot`, `runs` times; each also reads `random.random()`, which shows whether
  the random module's state comes back the same on every load;
- **served**: a snapshot made once by Node (the same pinned Pyodide, `node` on PATH), served by the
  loopback server like any other file and fetched through the HTTP cache, `runs` times: whether a
  snapshot the host makes, which no page script can overwrite, restores in the engine (it checks
  `json`, the `js` module and an `await` in asyncio).

Times are ms since the module started (Pyodide's own module already fetched). One line per load,
saved to out/snapshot.json. A diagnostic, not a benchmark: nothing is compared to the baseline.
"""

import argparse
import base64
import functools
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from harness import ROOT
from playwright.sync_api import Browser, sync_playwright

from bench.browser import LAUNCH

OUT = Path(__file__).resolve().parent / "out" / "snapshot.json"
PYODIDE = ROOT / "web" / "node_modules" / "pyodide"
IMPORTS = "import asyncio, base64, binascii, hashlib, json, random, re, sys, time"
PAGE = b'<!doctype html><meta charset="utf-8"><script type="module" src="/snapshot.mjs"></script>'
MODULE = """
import { loadPyodide } from "/pyodide/pyodide.mjs";
const mode = new URLSearchParams(location.search).get("mode");
const t0 = performance.now(), out = {};
const ms = () => Math.round(performance.now() - t0);
const sha256 = async (bytes) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
  .map((b) => b.toString(16).padStart(2, "0")).join("");
try {
  if (mode === "normal") {
    const py = await loadPyodide({ indexURL: "/pyodide/" });
    out.booted = ms();
    py.runPython(IMPORTS);
    out.imported = ms();
  } else if (mode === "make") {
    const py = await loadPyodide({ indexURL: "/pyodide/", _makeSnapshot: true });
    out.booted = ms();
    py.runPython(IMPORTS);
    out.imported = ms();
    const snapshot = py.makeMemorySnapshot();
    out.made = ms();
    out.bytes = snapshot.length;
    await (await caches.open("snapshot")).put("/snapshot", new Response(snapshot));
    out.stored = ms();
    out.sha256 = await sha256(snapshot);
    window.snapshotBytes = snapshot;
  } else {
    const stored = mode === "served" ? await fetch("/served.bin")
      : await (await caches.open("snapshot")).match("/snapshot");
    const snapshot = new Uint8Array(await stored.arrayBuffer());
    out.read = ms();
    out.sha256 = await sha256(snapshot);
    out.hashed = ms();
    const py = await loadPyodide({ indexURL: "/pyodide/", _loadSnapshot: snapshot });
    out.booted = ms();
    py.runPython(IMPORTS);
    out.imported = ms();
    out.random = py.runPython("random.random()");
    out.works = await py.runPythonAsync(
      "import js\\nawait asyncio.sleep(0)\\njson.dumps([js.location.pathname, sys.platform])");
  }
} catch (error) {
  out.error = String(error);
}
window.snapshotResult = out;
""".replace("IMPORTS", json.dumps(IMPORTS)).encode()


MAKE_WITH_NODE = """
import { writeFileSync } from "node:fs";
const { loadPyodide } = await import(process.argv[2]);
const py = await loadPyodide({ _makeSnapshot: true, env: { HOME: "/home/pyodide", _: "" } });
py.runPython(process.argv[4]);
writeFileSync(process.argv[3], py.makeMemorySnapshot());
"""


def made_by_node(directory: Path) -> Path | None:
    """A snapshot made by Node from the pinned Pyodide, or None without `node` on PATH."""
    node = shutil.which("node")
    if node is None:
        return None
    script, out = directory / "make.mjs", directory / "served.bin"
    script.write_text(MAKE_WITH_NODE)
    module = (PYODIDE / "pyodide.mjs").as_uri()
    subprocess.run([node, str(script), module, str(out), IMPORTS], check=True, timeout=300)
    return out


class Files(http.server.SimpleHTTPRequestHandler):
    """The page, its module, the pinned Pyodide and Node's snapshot, cached for an hour (a warm
    boot needs no request)."""

    served: Path | None = None

    extensions_map = {".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = self.path.split("?")[0]
        if path in ("/", "/snapshot.mjs"):
            body, kind = (PAGE, "text/html") if path == "/" else (MODULE, "text/javascript")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/served.bin" and self.served is not None:
            body = self.served.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith("/pyodide/"):
            self.path = path.removeprefix("/pyodide")
            super().do_GET()
        else:
            self.send_error(404)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


AS_BASE64 = """new Promise((done) => {
    const reader = new FileReader();
    reader.onload = () => done(reader.result.split(",")[1]);
    reader.readAsDataURL(new Blob([window.snapshotBytes]));
})"""


def load(browser_context: Any, origin: str, mode: str) -> dict[str, Any]:
    page = browser_context.new_page()
    try:
        page.goto(f"{origin}/?mode={mode}")
        result: dict[str, Any] = page.wait_for_function("() => window.snapshotResult", timeout=120_000).json_value()
        if mode == "make":
            result["_bytes"] = base64.b64decode(page.evaluate(AS_BASE64))
        return result
    finally:
        page.close()


def measure(browser: Browser, origin: str, runs: int, with_node: bool) -> dict[str, Any]:
    made: list[dict[str, Any]] = []
    normal: list[dict[str, Any]] = []
    restored: list[dict[str, Any]] = []
    served: list[dict[str, Any]] = []
    for _ in range(2):  # two snapshots in fresh contexts, to compare their bytes
        context = browser.new_context()
        load(context, origin, "normal")  # fills the HTTP cache
        made.append(load(context, origin, "make"))
        normal += [load(context, origin, "normal") for _ in range(runs)]
        restored += [load(context, origin, "restore") for _ in range(runs)]
        if with_node and not served:
            served += [load(context, origin, "served") for _ in range(runs)]
        context.close()
    first, second = (m.pop("_bytes") for m in made)
    differing = sum(a != b for a, b in zip(first, second, strict=False)) + abs(len(first) - len(second))
    return {
        "normal": normal,
        "make": made,
        "restore": restored,
        "served": served,
        "bytes_differing_between_two_snapshots": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.snapshot", description=__doc__)
    parser.add_argument("--engines", default="chromium,firefox")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="spalab-snapshot-") as directory:
        Files.served = made_by_node(Path(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Files, directory=str(PYODIDE)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            run(server, args.engines.split(","), args.runs, results)
        finally:
            server.shutdown()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))


def run(server: http.server.ThreadingHTTPServer, engines: list[str], runs: int, results: dict[str, Any]) -> None:
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    with sync_playwright() as playwright:
        for engine in engines:
            browser = getattr(playwright, engine).launch(**LAUNCH[engine])
            try:
                results[engine] = measure(browser, origin, runs, Files.served is not None)
            finally:
                browser.close()
            print(f"== {engine}")
            for kind in ("normal", "make", "restore", "served"):
                for line in results[engine][kind]:
                    print(f"{kind:8s} {json.dumps(line)}")
            differing = results[engine]["bytes_differing_between_two_snapshots"]
            print(f"bytes differing between two snapshots: {differing}")


if __name__ == "__main__":
    main()
