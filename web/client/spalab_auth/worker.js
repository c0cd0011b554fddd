// spalab-auth's token worker (Auth(storage="worker")): a dedicated Web Worker that holds the
// access and refresh tokens, so a script in the page never can (draft-ietf-oauth-browser-based-apps,
// "in-browser isolation"). The page hands it a code and its PKCE verifier; the worker POSTs them to
// the token endpoint, keeps the tokens, and answers the page with what the page may see: the
// id_token (not an API credential), token_type, expires_in, scope, and the access token's at_hash
// (OIDC Core §3.2.2.9) so the page can still check the id_token binds it. API calls come to the
// worker as {method, url, headers, body}; the token goes only to the origins the page named when it
// started the worker. Plain JavaScript, no dependencies, no imports.
//
// Where tokens may go is fixed when the worker starts, by its own URL (read-only in here):
//   worker.js?token_endpoint=…&revocation_endpoint=…&client_id=…&origin=…&origin=…
// No message can change it, so a script that reaches this worker can ask it to call the allowed
// APIs (a proxy, as the draft says), never to send a token anywhere else or hand one over.
"use strict";

const settings = new URLSearchParams(self.location.search);
const TOKEN_ENDPOINT = settings.get("token_endpoint") || "";
const REVOCATION_ENDPOINT = settings.get("revocation_endpoint") || "";
const CLIENT_ID = settings.get("client_id") || "";
const ORIGINS = settings.getAll("origin");
const HELD = "held-by-worker"; // what the page gets in place of a token
// Headers of a proxied call the page may set; Authorization is the worker's alone.
const PAGE_HEADERS = ["accept", "content-type"];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

let tokens = null; // {access_token, refresh_token, token_type}

function secure(url) {
  // RFC 6750 §5.3: tokens travel over TLS only (loopback aside, for development)
  let parsed;
  try {
    parsed = new URL(url);
  } catch (e) {
    return null;
  }
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(parsed.hostname);
  return parsed.protocol === "https:" || (parsed.protocol === "http:" && loopback) ? parsed : null;
}

const STARTED_OK = Boolean(secure(TOKEN_ENDPOINT)) && CLIENT_ID !== "" &&
  (REVOCATION_ENDPOINT === "" || Boolean(secure(REVOCATION_ENDPOINT))) &&
  ORIGINS.every((origin) => secure(origin) !== null && secure(origin).origin === origin);

function form(pairs) {
  return new URLSearchParams(pairs).toString();
}

async function send(url, init) {
  // As the page sends today: CORS, no cookies, no Referer, nothing cached, and no redirect
  // followed (a redirect must not carry the Authorization header to another URL).
  const response = await fetch(url, Object.assign({
    mode: "cors", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer", redirect: "error",
  }, init));
  const headers = {};
  response.headers.forEach((value, name) => { headers[name] = value; });
  return {status: response.status, headers: headers, body: await response.text()};
}

async function atHash(accessToken) {
  // OIDC Core §3.2.2.9: left half of SHA-256 over the ASCII token, base64url (RS256, PS256, ES256)
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken)));
  let text = "";
  for (const byte of digest.slice(0, 16)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function tokenRequest(pairs) {
  const answer = await send(TOKEN_ENDPOINT, {
    method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    body: form(pairs),
  });
  let data = null;
  try {
    data = JSON.parse(answer.body);
  } catch (e) {
    data = null;
  }
  if (answer.status !== 200 || !data || typeof data !== "object" || typeof data.access_token !== "string") {
    return answer; // an error (RFC 6749 §5.2) or an unusable answer: the page's checks say which
  }
  const previous = tokens;
  tokens = {
    access_token: data.access_token,
    // RFC 9700 §4.14.2: a rotated refresh token replaces the spent one; none sent keeps the old one
    refresh_token: typeof data.refresh_token === "string" ? data.refresh_token :
      (pairs.grant_type === "refresh_token" && previous ? previous.refresh_token : null),
    token_type: typeof data.token_type === "string" ? data.token_type : "",
  };
  const shown = Object.assign({}, data, {access_token: HELD});
  if ("refresh_token" in data) shown.refresh_token = HELD;
  answer.body = JSON.stringify(shown);
  answer.at_hash = await atHash(data.access_token);
  return answer;
}

function exchange(message) {
  // RFC 6749 §4.1.3, RFC 7636 §4.5: the code with its verifier, by a public client
  for (const name of ["code", "code_verifier", "redirect_uri"]) {
    if (typeof message[name] !== "string" || !message[name]) return refused("bad_message");
  }
  return tokenRequest({
    grant_type: "authorization_code", code: message.code, redirect_uri: message.redirect_uri,
    client_id: CLIENT_ID, code_verifier: message.code_verifier,
  });
}

function refresh() {
  if (!tokens || !tokens.refresh_token) return refused("not_signed_in");
  return tokenRequest({grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: CLIENT_ID});
}

function callApi(message) {
  if (!tokens) return refused("not_signed_in");
  const target = typeof message.url === "string" ? secure(message.url) : null;
  // The allow-list: the token goes to these origins and nowhere else
  if (target === null || !ORIGINS.includes(target.origin)) return refused("origin_not_allowed");
  if (!METHODS.includes(message.method)) return refused("bad_message");
  if (message.body !== null && typeof message.body !== "string") return refused("bad_message");
  const headers = {};
  for (const [name, value] of Object.entries(message.headers || {})) {
    if (!PAGE_HEADERS.includes(name.toLowerCase()) || typeof value !== "string") return refused("bad_header");
    headers[name] = value;
  }
  // RFC 6750 §2.1: the token in the Authorization header only
  headers["Authorization"] = "Bearer " + tokens.access_token;
  const init = {method: message.method, headers: headers};
  if (message.body !== null) init.body = message.body;
  return send(target.href, init);
}

function revoke(message) {
  // RFC 7009 §2.1: one token per request, with its hint
  const token = tokens && (message.hint === "refresh_token" ? tokens.refresh_token :
    message.hint === "access_token" ? tokens.access_token : null);
  if (!token) return refused("not_signed_in");
  if (!REVOCATION_ENDPOINT) return refused("no_revocation_endpoint");
  return send(REVOCATION_ENDPOINT, {
    method: "POST",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: form({token: token, token_type_hint: message.hint, client_id: CLIENT_ID}),
  });
}

function refused(reason) {
  return {refused: reason};
}

const ACTIONS = {
  exchange: exchange,
  refresh: refresh,
  fetch: callApi,
  revoke: revoke,
  forget: () => { tokens = null; return {forgotten: true}; },
};

self.onmessage = async (event) => {
  // Messages are JSON text: {id: number, type: one of ACTIONS, ...}; anything else is dropped
  let message;
  try {
    message = typeof event.data === "string" ? JSON.parse(event.data) : null;
  } catch (e) {
    return;
  }
  if (!message || typeof message !== "object" || !Number.isInteger(message.id)) return;
  let reply;
  if (!STARTED_OK) {
    reply = refused("bad_settings");
  } else if (!Object.prototype.hasOwnProperty.call(ACTIONS, message.type)) {
    reply = refused("bad_message");
  } else {
    try {
      reply = await ACTIONS[message.type](message);
    } catch (e) {
      reply = {network_error: String(message.url || (message.type === "revoke" ? REVOCATION_ENDPOINT : TOKEN_ENDPOINT))};
    }
  }
  self.postMessage(JSON.stringify(Object.assign({id: message.id}, reply)));
};
