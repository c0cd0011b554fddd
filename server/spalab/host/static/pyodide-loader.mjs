// The Pyodide pages' interpreter module when the host has a memory snapshot (issue 15; spalab.host.snapshot).
// PyScript imports the config's "interpreter" and calls its loadPyodide(options). This one restores the
// interpreter from the snapshot the host made of the same pinned Pyodide instead of starting it (about
// 1.8 s of CPU on a warm page), and starts it as before when the snapshot cannot be restored.
//
// Only a snapshot the browser already holds is restored: a first visit starts Pyodide as before, without
// 5 MB more on its way to a usable page, and downloads the snapshot once it is idle, for the next visit.
//
// The snapshot comes from the host's immutable URL, through the HTTP cache only: never from storage a
// script of this origin can write (Cache API, IndexedDB), where an injected script could leave code that
// every later visit would run (README, "A memory snapshot of Pyodide"; docs/SECURITY.md H8).
import { loadPyodide as boot, version } from "/vendor/pyodide/pyodide.mjs";

export { version };

const query = new URL(import.meta.url).searchParams;
const SNAPSHOT = new URL(`/pyodide-snapshot?v=${encodeURIComponent(query.get("sv"))}`, import.meta.url);
// PyScript derives indexURL from the interpreter's URL; this module is not beside Pyodide's files.
const INDEX = new URL("/vendor/pyodide/", import.meta.url).href;

// Asked as soon as PyScript imports this module, while it loads the rest: the HTTP cache's copy or null
// (not there, or an engine without "only-if-cached"). On a first visit Chromium's console shows that miss
// as "Failed to load resource: net::ERR_CACHE_MISS": expected, and handled here.
const cached = fetch(SNAPSHOT, { cache: "only-if-cached", mode: "same-origin" }).then(
  (response) => (response.ok ? response : null),
  () => null,
);

async function bytes(response) {
  return new Uint8Array(await response.arrayBuffer());
}

function downloadForNextTime() {
  const later = globalThis.requestIdleCallback ?? ((task) => setTimeout(task, 1000));
  later(() => {
    fetch(SNAPSHOT, { priority: "low" })
      .then((response) => response.arrayBuffer()) // read to the end, or the HTTP cache keeps nothing
      .catch((error) => console.warn("spalab: Pyodide's memory snapshot was not downloaded:", error));
  });
}

export async function loadPyodide(options) {
  const response = await cached;
  if (response === null) {
    const pyodide = await boot({ ...options, indexURL: INDEX });
    downloadForNextTime();
    return pyodide;
  }
  try {
    const pyodide = await boot({ ...options, indexURL: INDEX, _loadSnapshot: bytes(response) });
    // The snapshot holds the random module's state as the host left it: the same for every visitor.
    pyodide.runPython("import random\nrandom.seed()");
    performance.mark("spalab:pyodide-restored");
    return pyodide;
  } catch (error) {
    console.warn("spalab: Pyodide's memory snapshot was not usable, starting without it:", error);
    return boot({ ...options, indexURL: INDEX });
  }
}
