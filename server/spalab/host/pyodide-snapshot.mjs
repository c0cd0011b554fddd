// Makes Pyodide's memory snapshot for the SPA host (spalab.host.snapshot; issue 15). Run by the host with
// Node, an empty environment and a throwaway working directory:
//   node pyodide-snapshot.mjs <file URL of the pinned pyodide.mjs> <output file>
// The snapshot is the started interpreter's whole WebAssembly memory, served to every visitor: nothing of
// this machine may be in it. Pyodide's environment is the one a browser gets (its defaults, HOME and
// PYTHONINSPECT, and Emscripten's "_").
import { writeFileSync } from "node:fs";

const [pyodideModule, output] = process.argv.slice(2);
// Emscripten names the program (sys.executable, sys.argv) after Node's argv[1], this script's path; in a
// browser it is "./this.program".
process.argv.splice(1, Infinity, "./this.program");
const { loadPyodide } = await import(pyodideModule);
const pyodide = await loadPyodide({
  _makeSnapshot: true,
  env: { HOME: "/home/pyodide", PYTHONINSPECT: "1", _: "./this.program" },
});
// The standard library modules the SPA and PyScript import on the way to the first line of main.py that
// Pyodide has not imported already by now (it has asyncio, json, hashlib, random, re and more): imported
// in the snapshot, they cost nothing at load. Only pure Python: no JavaScript object may be held yet.
pyodide.runPython("import base64, binascii, dataclasses, inspect, typing");
writeFileSync(output, pyodide.makeMemorySnapshot());
