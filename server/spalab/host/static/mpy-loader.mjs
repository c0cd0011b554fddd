// The MicroPython pages' interpreter module (issue 15; spalab.host.app.MpyBundles). PyScript imports the
// config's "interpreter" and calls its loadMicroPython(options). This one boots the pinned MicroPython and,
// meanwhile, fetches every compiled module the config needs as one immutable file, then writes them into
// MicroPython's file system before PyScript loads the config's other files and runs main.py: one request
// from the HTTP cache instead of one per module (about 40).
import { loadMicroPython as boot } from "/vendor/micropython/micropython.mjs";

export * from "/vendor/micropython/micropython.mjs";

const query = new URL(import.meta.url).searchParams;
const BUNDLE = new URL(
  `/mpy-bundle/${encodeURIComponent(query.get("bundle"))}?v=${encodeURIComponent(query.get("bv"))}`,
  import.meta.url,
);
// PyScript derives the WebAssembly's URL from the interpreter's; this module is not beside it. (So PyScript's
// "debug" and "ulab" builds, which it picks by that URL, are not available with this loader.)
const WASM = new URL("/vendor/micropython/micropython.wasm", import.meta.url).href;

async function fetchModules() {
  const response = await fetch(BUNDLE);
  if (!response.ok) throw new Error(`spalab: the compiled modules (${BUNDLE.pathname}) answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The bundle: a 4-byte big-endian length, that many bytes of JSON listing [path, size] pairs, then the
// files' bytes in that order. Paths are relative to the working directory, like PyScript's "./x".
function unpack(mp, bytes) {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  const listing = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const { FS } = mp;
  let at = 4 + length;
  for (const [path, size] of listing) {
    const absolute = mp._module.PATH_FS.resolve(path);
    let directory = "";
    for (const part of absolute.split("/").slice(1, -1)) {
      directory += "/" + part;
      try {
        FS.mkdir(directory);
      } catch (error) {
        // there already (as PyScript's own writes assume); a real failure shows in writeFile below
      }
    }
    FS.writeFile(absolute, bytes.subarray(at, at + size));
    at += size;
  }
  if (at !== bytes.length) throw new Error("spalab: the compiled modules' file is malformed");
}

export async function loadMicroPython(options) {
  const modules = fetchModules();
  modules.catch(() => {}); // awaited below; not reported as unhandled while the interpreter boots
  const mp = await boot({ ...options, url: WASM });
  unpack(mp, await modules);
  return mp;
}
