// The popup sign-in's redirect URI: a tiny, Python-free page. It reads the
// authorization response, cleans its own URL, hands the response to the app that
// opened it, and closes. The app checks everything (state, iss, ...), as for a
// redirect; this page only carries the URL across.
//
// Delivery: postMessage to window.opener, restricted to this origin; when the opener
// is gone (a provider that sends Cross-Origin-Opener-Policy cuts window.opener), a
// same-origin BroadcastChannel instead.
(() => {
  "use strict";
  const url = location.href;
  history.replaceState(null, "", location.pathname);
  performance.mark("spalab:url-scrubbed");
  // How long the response sat in the address bar, from its first byte (for the benchmark).
  const navigation = performance.getEntriesByType("navigation")[0];
  const scrubbedMs = navigation ? performance.now() - navigation.responseStart : null;
  const message = { type: "spalab:callback", url, scrubbedMs };
  let opener = null;
  try {
    opener = window.opener && !window.opener.closed ? window.opener : null;
  } catch (error) {
    opener = null;
  }
  if (opener) {
    opener.postMessage(message, location.origin);
  } else {
    const channel = new BroadcastChannel("spalab:callback");
    channel.postMessage(message);
    channel.close();
  }
  window.close();
  // Still here (the page was not opened by the app): say so instead of a blank window.
  addEventListener("DOMContentLoaded", () => {
    document.getElementById("status").textContent =
      "The sign-in response was handed to the app. You can close this window.";
  });
})();
