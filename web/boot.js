// spalab's pre-boot script: a classic script in <head>, run before PyScript or any
// interpreter starts (no inline script: the CSP forbids it).
//
// 1. On a redirect callback, capture the authorization response and clean the URL at
//    once (history.replaceState), so the code or tokens leave the address bar within
//    milliseconds instead of after the interpreter has booted. Python takes the
//    captured URL with spalabTakeCallback(), which also forgets it.
//    Note (lab experiment E10): the navigation timing entry still holds the original
//    URL; no API can clear it, which is one more reason the code flow is preferred.
// 2. Choose the Python runtime: ?runtime=mpy (MicroPython) or ?runtime=py (Pyodide),
//    remembered for this tab in sessionStorage so a redirect back to "/" keeps it.
// 3. Start fetching that runtime's config and interpreter module before PyScript asks for them.
(() => {
  "use strict";
  const RESPONSE = ["code", "state", "iss", "error", "error_description", "error_uri",
                    "access_token", "token_type", "id_token", "expires_in"];
  const carries = (part) => [...new URLSearchParams(part).keys()].some((name) => RESPONSE.includes(name));

  let captured = null;
  if (carries(location.search.slice(1)) || carries(location.hash.slice(1))) {
    captured = location.href;
    history.replaceState(null, "", location.pathname);
    performance.mark("spalab:url-scrubbed");
  }
  Object.defineProperty(window, "spalabTakeCallback", {
    value: () => { const url = captured; captured = null; return url; },
  });

  // The page names main.py, each runtime's config and its interpreter; the host writes them with the
  // version of their bytes (cached for good at that URL): no round trip to revalidate them.
  const named = document.currentScript?.dataset ?? {};
  const RUNTIMES = { py: named.py || "/pyscript.json", mpy: named.mpy || "/mpy.json" };
  const asked = new URLSearchParams(location.search).get("runtime");
  if (Object.hasOwn(RUNTIMES, asked)) {
    sessionStorage.setItem("spalab:runtime", asked);
    history.replaceState(null, "", location.pathname);
  }
  const stored = sessionStorage.getItem("spalab:runtime");
  const runtime = Object.hasOwn(RUNTIMES, stored) ? stored : "py";
  document.documentElement.dataset.runtime = runtime;
  // The same requests PyScript makes, so the browser reuses the answers.
  const hint = (rel, href, as) => {
    if (!href) return;
    const link = document.createElement("link");
    link.rel = rel;
    link.href = href;
    if (as) {
      link.as = as;
      link.crossOrigin = "anonymous";
    }
    document.head.append(link);
  };
  hint("preload", RUNTIMES[runtime], "fetch");
  hint("modulepreload", named[runtime + "Interpreter"]);
  const script = document.createElement("script");
  script.type = runtime;
  script.src = named.main || "/main.py";
  script.setAttribute("config", RUNTIMES[runtime]);
  document.head.append(script);
})();
