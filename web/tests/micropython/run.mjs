// Run the client core's portable unit tests inside a WebAssembly Python under Node:
// MicroPython 1.28 (the npm build PyScript's `mpy` uses; the default) or Pyodide (`py`).
// Copies the sans-I/O core (web/client/spalab_auth/core) and the portable test modules into the interpreter's
// in-memory file system, then hands over to portable_runner.py, which prints
// "N passed, M failed". Exit status: 0 only if M == 0 and N > 0.
//
// Usage: node web/tests/micropython/run.mjs [--runtime micropython|pyodide] [-k substring]

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const testsDir = dirname(here);
const webDir = dirname(testsDir);
const packageDir = join(webDir, "client", "spalab_auth");
const coreDir = join(packageDir, "core");
const RUNTIMES = {
  micropython: join(webDir, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs"),
  pyodide: join(webDir, "node_modules", "pyodide", "pyodide.mjs"),
};

// Test modules that run everywhere; test_cpython_* need joserfc/cryptography/hypothesis.
const isPortableTest = (name) => /^test_client_.*\.py$/.test(name);
const SUPPORT = ["client_support.py", "client_vectors.py"];

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
}

function pythonFiles(dir, keep) {
  return readdirSync(dir).filter((name) => name.endsWith(".py") && keep(name)).sort();
}

function copyInto(FS, fromDir, toDir, names) {
  FS.mkdirTree(toDir);
  for (const name of names) {
    FS.writeFile(join(toDir, name), readFileSync(join(fromDir, name), "utf8"));
  }
}

async function load(runtime, print) {
  const { loadMicroPython, loadPyodide } = await import(pathToFileURL(RUNTIMES[runtime]).href);
  if (runtime === "pyodide") return loadPyodide({ stdout: print, stderr: print });
  return loadMicroPython({ heapsize: 64 * 1024 * 1024, stdout: print, stderr: print });
}

async function main() {
  const runtime = option("--runtime", "micropython");
  const keyword = option("-k", "");
  if (!(runtime in RUNTIMES)) {
    console.error(`unknown runtime ${runtime}; use micropython or pyodide`);
    process.exit(2);
  }
  if (!existsSync(RUNTIMES[runtime])) {
    console.error(`${runtime} not installed: ${RUNTIMES[runtime]} is missing (run "npm ci" in web/)`);
    process.exit(2);
  }
  const lines = [];
  const print = (line) => { lines.push(line); console.log(line); };
  const python = await load(runtime, print);

  const testModules = pythonFiles(testsDir, isPortableTest);
  // The package's __init__ too: outside a PyScript page it must import the core alone.
  copyInto(python.FS, packageDir, "/spalab/spalab_auth", ["__init__.py"]);
  copyInto(python.FS, coreDir, "/spalab/spalab_auth/core", pythonFiles(coreDir, () => true));
  copyInto(python.FS, testsDir, "/spalab/tests", [...SUPPORT, ...testModules]);
  copyInto(python.FS, here, "/spalab/tests", ["portable_runner.py"]);

  const names = testModules.map((name) => name.slice(0, -3));
  try {
    python.runPython(`
import sys
sys.path.insert(0, "/spalab/tests")
sys.path.insert(0, "/spalab")
import portable_runner
portable_runner.main(${JSON.stringify(names)}, ${JSON.stringify(keyword)})
`);
  } catch (error) {
    console.error(`runner crashed: ${error}`);
    process.exit(1);
  }
  const summary = lines.map((line) => /^(\d+) passed, (\d+) failed$/.exec(line)).filter(Boolean).pop();
  if (!summary) process.exit(1);
  const [passed, failed] = [Number(summary[1]), Number(summary[2])];
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

await main();
