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
// Emscripten writes the time zone into memory when it starts: the machine's (/etc/localtime) unless TZ
// says otherwise. Every visitor would get this machine's UTC offset and daylight saving rule.
process.env.TZ = "UTC";
const { loadPyodide } = await import(pyodideModule);
const pyodide = await loadPyodide({
  _makeSnapshot: true,
  env: { HOME: "/home/pyodide", PYTHONINSPECT: "1", _: "./this.program" },
});
// The standard library modules a page imports after the restore that Pyodide has not imported by now (it
// has asyncio, json, random, re and more): installing the package's wheel (importlib.metadata, tarfile,
// email, cp437), PyScript's Python and the SPA (hashlib, html, inspect, dataclasses, typing, base64).
// Imported in the snapshot, they cost nothing at load. No module that holds a JavaScript object.
pyodide.runPython(`import base64, binascii, dataclasses, email, encodings.cp437, hashlib, html, html.entities,
  importlib.metadata, inspect, tarfile, typing`.replace(/\s+/g, " "));
writeFileSync(output, pyodide.makeMemorySnapshot());
