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

  const RUNTIMES = { py: "/pyscript.json", mpy: "/mpy.json" };
  const asked = new URLSearchParams(location.search).get("runtime");
  if (asked in RUNTIMES) {
    sessionStorage.setItem("spalab:runtime", asked);
    history.replaceState(null, "", location.pathname);
  }
  const stored = sessionStorage.getItem("spalab:runtime");
  const runtime = stored in RUNTIMES ? stored : "py";
  document.documentElement.dataset.runtime = runtime;
  const script = document.createElement("script");
  script.type = runtime;
  script.src = "/main.py";
  script.setAttribute("config", RUNTIMES[runtime]);
  document.head.append(script);
})();
