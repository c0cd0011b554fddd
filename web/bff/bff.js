// The BFF page: no tokens here, only calls to this host's /bff/ routes with the header the BFF
// requires (its CSRF defence). Writes with textContent only.
"use strict";

const HEADERS = { "X-Spalab-BFF": "1" };
const MESSAGES = {
  no_transaction: "That sign-in was not started in this browser (or took longer than 10 minutes).",
  state_mismatch: "The response's state does not match the sign-in this browser started: refused.",
  issuer_mismatch: "The response does not come from the expected provider: refused.",
  access_denied: "You did not allow access.",
  authorization_error: "The provider answered with an error.",
  invalid_request: "The sign-in response was malformed.",
  token_error: "The provider refused to exchange the code.",
  id_token_invalid: "The id_token did not validate.",
  provider_unavailable: "The provider cannot be reached.",
};

const $ = (id) => document.getElementById(id);

function show(id, visible) { $(id).hidden = !visible; }

function message(text) {
  $("message").textContent = text;
  show("message", Boolean(text));
}

async function call(path, method) {
  const response = await fetch(path, { method: method || "GET", headers: HEADERS, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  return { status: response.status, body: body };
}

function render(session) {
  const signedIn = Boolean(session && session.signed_in);
  $("who").textContent = signedIn
    ? "Signed in as " + (session.name || session.sub) + " (" + session.sub + "), scope: " + session.scope
    : "Signed out.";
  show("sign-in", !signedIn);
  show("call-api", signedIn);
  show("sign-out", signedIn);
  if (!signedIn) show("out", false);
}

async function refresh() {
  const answer = await call("/bff/session");
  if (answer.status === 404) {
    $("who").textContent = "The BFF is off on this host (it needs a confidential client at a provider it knows).";
    show("sign-in", false);
    return;
  }
  render(answer.body);
}

async function callApi() {
  const answer = await call("/bff/api/me");
  $("out").textContent = answer.status + "\n" + JSON.stringify(answer.body, null, 2);
  show("out", true);
  if (answer.status === 401) await refresh();
}

async function signOut() {
  await call("/bff/logout", "POST");
  message("");
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  const error = new URLSearchParams(location.search).get("error");
  if (error) {
    message(MESSAGES[error] || "The sign-in failed.");
    history.replaceState(null, "", "/bff/");
  }
  $("sign-in").addEventListener("click", () => location.assign("/bff/login"));
  $("call-api").addEventListener("click", callApi);
  $("sign-out").addEventListener("click", signOut);
  refresh();
});
