// The lab's silent-renewal experiment (E16), served at /lab/silent.js: a prompt=none authorization
// request (code + PKCE, with state) in a hidden iframe and at the top level, each timed.
// Written with textContent only: nothing from the URL ever becomes markup.
"use strict";
const CALLBACK_PATH = "/lab/silent/callback";
const STORAGE_KEY = "spalab-lab-silent";
const IFRAME_TIMEOUT_MS = 5000;
const verdict = document.getElementById("verdict");
const result = document.getElementById("result");

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

async function pkce() {
  // RFC 7636 §4.1, §4.2: a verifier and its S256 challenge.
  const verifier = random();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: b64url(digest) };
}

function authorizeUrl(settings, state, challenge, prompt = "none") {
  const query = new URLSearchParams({
    client_id: settings.clientId,
    redirect_uri: settings.redirectUri,
    response_type: "code",
    scope: "openid",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  if (prompt) query.set("prompt", prompt);
  return settings.provider + "/authorize?" + query;
}

// What came back, judged: "code" (redeemed at /token to prove it real), an OAuth error such as
// "login_required", "state mismatch", or "no answer" (nothing reached this page in time).
async function judge(settings, answer, state, verifier, ms) {
  if (answer === null) return { outcome: "no answer", ms };
  if (answer.state !== state) return { outcome: "state mismatch", ms };
  if (answer.error) return { outcome: answer.error, ms };
  if (!answer.code) return { outcome: "nothing in the answer", ms };
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: answer.code,
    redirect_uri: settings.redirectUri,
    client_id: settings.clientId,
    code_verifier: verifier,
  });
  let token;
  try {
    const response = await fetch(settings.provider + "/token", { method: "POST", body });
    token = response.status;
  } catch (error) {
    token = error.name;
  }
  return { outcome: "code", ms, token };
}

function show(mode, judged) {
  const shown = { mode, ...judged };
  result.textContent = JSON.stringify(shown);
  const what = judged.outcome === "code"
    ? "a code came back (the provider saw its session cookie); redeemed: " + judged.token
    : judged.outcome === "no answer"
      ? "no answer reached this page"
      : judged.outcome + " came back (the provider saw no session)";
  const label = { iframe: "Hidden iframe: ", "top-level": "Top level: ", "visible sign-in": "Visible sign-in: " }[mode];
  verdict.textContent = label + what + ", after " + judged.ms + " ms.";
}

// (a) The hidden iframe: its callback page posts the answer to this page, and only to its own origin.
async function runInIframe(settings) {
  const { verifier, challenge } = await pkce();
  const state = random();
  const frame = document.createElement("iframe");
  frame.hidden = true;
  const callbackOrigin = new URL(settings.redirectUri).origin;
  const answer = new Promise((resolve) => {
    const listener = (event) => {
      if (event.origin !== callbackOrigin || event.source !== frame.contentWindow) return;
      if (!event.data || event.data.type !== "spalab-silent") return;
      window.removeEventListener("message", listener);
      resolve(event.data);
    };
    window.addEventListener("message", listener);
    setTimeout(() => { window.removeEventListener("message", listener); resolve(null); }, IFRAME_TIMEOUT_MS);
  });
  const started = performance.now();
  frame.src = authorizeUrl(settings, state, challenge);
  document.body.append(frame);
  const received = await answer;
  const ms = Math.round(performance.now() - started);
  frame.remove();
  return judge(settings, received, state, verifier, ms);
}

// (b) The top level: the transaction waits in sessionStorage while this tab visits the provider.
// Without a prompt it is a visible sign-in and consent, which the silent runs need once.
async function runAtTopLevel(settings, prompt) {
  const { verifier, challenge } = await pkce();
  const state = random();
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ settings, state, verifier, prompt, started: Date.now() }));
  location.assign(authorizeUrl(settings, state, challenge, prompt));
}

function callback() {
  const params = new URLSearchParams(location.search);
  history.replaceState(null, "", location.pathname);
  const answer = { type: "spalab-silent", code: params.get("code"), error: params.get("error"), state: params.get("state") };
  if (window.parent !== window) {
    // docs/SECURITY.md H7: to a page of this origin only; a foreign parent receives nothing.
    window.parent.postMessage(answer, location.origin);
    return;
  }
  const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
  sessionStorage.removeItem(STORAGE_KEY);
  if (saved === null) {
    verdict.textContent = "No experiment was running in this tab.";
    return;
  }
  const ms = Date.now() - saved.started;
  const mode = saved.prompt ? "top-level" : "visible sign-in";
  judge(saved.settings, answer, saved.state, saved.verifier, ms).then((judged) => show(mode, judged));
}

if (location.pathname === CALLBACK_PATH) {
  callback();
} else {
  const settings = document.getElementById("silent").dataset;
  const plain = { provider: settings.provider, clientId: settings.clientId, redirectUri: settings.redirectUri };
  document.getElementById("run-iframe").addEventListener("click", () => {
    verdict.textContent = "Running in a hidden iframe…";
    runInIframe(plain).then((judged) => show("iframe", judged), (error) => { verdict.textContent = String(error); });
  });
  document.getElementById("run-top").addEventListener("click", () => { runAtTopLevel(plain, "none"); });
  document.getElementById("sign-in").addEventListener("click", () => { runAtTopLevel(plain, null); });
}
