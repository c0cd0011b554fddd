// EXPERIMENT (issue 15), not for shipping: PyScript imports the config's "interpreter" and calls its
// loadPyodide(options); this one boots Pyodide from a memory snapshot kept in the Cache API, and
// makes and stores one when there is none. docs: README "Speed".
import { loadPyodide as load, version } from "/vendor/pyodide@314.0.7/pyodide.mjs";

export { version };
const indexURL = "/vendor/pyodide@314.0.7/";
const KEY = `/pyodide-snapshot/${version}`;

export async function loadPyodide(options) {
  performance.mark("spalab:snapshot-start");
  const cache = await caches.open("spalab-pyodide-snapshot");
  const stored = await cache.match(KEY);
  if (stored) {
    try {
      const bytes = new Uint8Array(await stored.arrayBuffer());
      performance.mark("spalab:snapshot-read");
      const py = await load({ ...options, indexURL, _loadSnapshot: bytes });
      py.runPython("import random; random.seed()");
      performance.mark("spalab:snapshot-restored");
      return py;
    } catch (error) {
      console.warn("snapshot not usable, booting without it:", error);
      await cache.delete(KEY);
    }
  }
  const { packages, ...bare } = options;
  const maker = await load({ ...bare, indexURL, _makeSnapshot: true });
  const bytes = maker.makeMemorySnapshot();
  performance.mark("spalab:snapshot-made");
  cache.put(KEY, new Response(bytes.slice())).catch((error) => console.warn("snapshot not stored:", error));
  const py = await load({ ...options, indexURL, _loadSnapshot: bytes });
  py.runPython("import random; random.seed()");
  return py;
}
