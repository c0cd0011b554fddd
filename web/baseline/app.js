// The benchmark's baseline (issue 5): a plain-JavaScript SPA on oidc-client-ts, signing
// in to the same provider with authorization code + PKCE (redirect, query response mode)
// and calling the same API. Tokens stay in memory, as in the Python SPA's default.
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const fail = (text) => { $("message").textContent = text; $("message").hidden = false; };
  let settings;
  try {
    settings = (await (await fetch("/pyscript.json", { cache: "no-store" })).json()).spalab;
  } catch (error) {
    fail("Could not load the app's settings: " + error.message);
    return;
  }
  // This page (/baseline/, or the lab's copy with an injected script, /lab/storage/baseline/).
  const redirectUri = location.origin + location.pathname;
  const manager = new oidc.UserManager({
    authority: settings.issuer,
    client_id: "baseline-oidc-client-ts",
    redirect_uri: redirectUri,
    response_type: "code",
    scope: "openid profile contacts.read",
    loadUserInfo: false,
    userStore: new oidc.WebStorageStateStore({ store: new oidc.InMemoryWebStorage() }),
  });
  let user = null;
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    try {
      user = await manager.signinRedirectCallback();
    } catch (error) {
      fail("Sign-in failed: " + error.message);
    }
    history.replaceState(null, "", redirectUri);
    performance.mark("spalab:url-scrubbed");
  }
  if (user) $("who").textContent = "Signed in as " + (user.profile.name || user.profile.sub) + ".";
  $("signin").disabled = false;
  $("call-api").disabled = !user;
  performance.mark("spalab:ready");
  $("signin").addEventListener("click", () => {
    manager.signinRedirect().catch((error) => fail("Could not start the sign-in: " + error.message));
  });
  $("call-api").addEventListener("click", async () => {
    try {
      const response = await fetch(settings.api_base + "/contacts", {
        headers: { Authorization: "Bearer " + user.access_token }, cache: "no-store", referrerPolicy: "no-referrer",
      });
      $("api-result").textContent = JSON.stringify(await response.json(), null, 2);
      $("api-result").hidden = false;
    } catch (error) {
      fail("The API call failed: " + error.message);
    }
  });
})();
