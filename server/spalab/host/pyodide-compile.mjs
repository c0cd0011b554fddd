// Compiles a package's Python modules to the pinned Pyodide's bytecode for the SPA host (spalab.host.bytecode;
// issue 15). Run by the host with Node, an empty environment and a throwaway working directory:
//   node pyodide-compile.mjs <file URL of the pinned pyodide.mjs> <directory>
// <directory> holds the package as it is installed (spalab_auth/...); each module gets its .pyc beside it in
// __pycache__/, named with Pyodide's cache tag (cpython-314...), as Pyodide's import system looks for it.
// The .pyc files are "unchecked hash" ones (PEP 552): used without comparing the source's timestamp, which a
// wheel's unpacking does not keep. Their code objects name the module's path as a page installs it
// (site-packages), so a traceback in the browser reads as it would without them. Prints the cache tag.
const [pyodideModule, directory] = process.argv.slice(2);
process.argv.splice(1, Infinity, "./this.program");
process.env.TZ = "UTC";
const { loadPyodide } = await import(pyodideModule);
const pyodide = await loadPyodide({ env: { HOME: "/home/pyodide" } });
pyodide.FS.mkdirTree("/compile");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: directory }, "/compile");
const tag = pyodide.runPython(`
import compileall, py_compile, sys, sysconfig
ok = compileall.compile_dir(
    "/compile", ddir=sysconfig.get_path("purelib"), quiet=1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
if not ok:
    raise SystemExit("a module did not compile")
sys.implementation.cache_tag
`);
process.stdout.write(tag);
