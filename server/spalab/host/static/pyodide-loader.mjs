// The Pyodide pages' interpreter module when the host has a memory snapshot (issue 15; spalab.host.snapshot).
// PyScript imports the config's "interpreter" and calls its loadPyodide(options). This one restores the
// interpreter from the snapshot the host made of the same pinned Pyodide instead of starting it (about
// 1.8 s of CPU on a warm page), and starts it as before when the snapshot cannot be fetched or restored.
//
// The snapshot comes from the host's immutable URL, through the HTTP cache only: never from storage a
// script of this origin can write (Cache API, IndexedDB), where an injected script could leave code that
// every later visit would run (README, "A memory snapshot of Pyodide"; docs/SECURITY.md).
import { loadPyodide as boot, version } from "/vendor/pyodide/pyodide.mjs";

export { version };

const query = new URL(import.meta.url).searchParams;
const SNAPSHOT = new URL(`/pyodide-snapshot?v=${encodeURIComponent(query.get("sv"))}`, import.meta.url);
// PyScript derives indexURL from the interpreter's URL; this module is not beside Pyodide's files.
const INDEX = new URL("/vendor/pyodide/", import.meta.url).href;

// Fetched as soon as PyScript imports this module, while it loads the rest.
const snapshot = fetch(SNAPSHOT).then(async (response) => {
  if (!response.ok) throw new Error(`spalab: Pyodide's snapshot (${SNAPSHOT.pathname}) answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
});
snapshot.catch(() => {}); // awaited below; not reported as unhandled meanwhile

export async function loadPyodide(options) {
  try {
    const pyodide = await boot({ ...options, indexURL: INDEX, _loadSnapshot: snapshot });
    // The snapshot holds the random module's state as the host left it: the same for every visitor.
    pyodide.runPython("import random\nrandom.seed()");
    performance.mark("spalab:pyodide-restored");
    return pyodide;
  } catch (error) {
    console.warn("spalab: Pyodide's memory snapshot was not usable, starting without it:", error);
    return boot({ ...options, indexURL: INDEX });
  }
}
