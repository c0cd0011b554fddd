// Popup sign-in, the window plumbing only: open the popup, send it to the provider,
// and wait for the tiny callback page (popup-callback.html) to hand back its URL.
// Every OAuth check (state, iss, PKCE, tokens) stays in Python, as for a redirect.
(() => {
  "use strict";
  const FEATURES = "popup,width=520,height=700";
  const CLOSED_POLL_MS = 250;
  const GRACE_MS = 1000; // a message sent just before the popup closed may still be on its way

  // The state parameter of an authorization request or response (query, or fragment for the implicit flow).
  const stateOf = (url) => {
    try {
      const parsed = new URL(url, location.href);
      return parsed.searchParams.get("state") ?? new URLSearchParams(parsed.hash.slice(1)).get("state");
    } catch (error) {
      return null;
    }
  };

  class SignInPopup {
    constructor() {
      // Opened at once, inside the click that started the sign-in, so no popup blocker
      // objects; it is sent to the provider once the authorization URL is built.
      this.window = window.open("about:blank", "spalab-signin", FEATURES);
    }

    get blocked() {
      return !this.window;
    }

    // Listening starts before the popup leaves: with a live provider session and remembered
    // consent, the answer can arrive before the app gets round to wait().
    navigate(url) {
      this.state = stateOf(url);
      this.result = this.listen();
      this.result.catch(() => {}); // handled by whoever awaits wait(); no "unhandled rejection" before
      this.window.location.replace(url);
    }

    close() {
      if (this.window && !this.window.closed) this.window.close();
    }

    // Resolves with the callback URL; rejects with Error("closed") if the popup closes
    // without answering.
    wait() {
      return this.result || this.listen();
    }

    listen() {
      return new Promise((resolve, reject) => {
        const channel = new BroadcastChannel("spalab:callback");
        let closedSince = 0;
        const finish = (error, url) => {
          removeEventListener("message", onMessage);
          channel.close();
          clearInterval(timer);
          this.close();
          if (error) reject(error); else resolve(url);
        };
        const accept = (data) => {
          if (!data || data.type !== "spalab:callback" || typeof data.url !== "string") return false;
          // The answer to this sign-in only: any same-origin page may post on the channel (the callback
          // page opened by another site with noopener, say), and must not end this wait.
          if (this.state && stateOf(data.url) !== this.state) return false;
          performance.mark("spalab:popup-callback", { detail: { scrubbedMs: data.scrubbedMs } });
          return true;
        };
        const onMessage = (event) => {
          // Only our own callback page, in the popup we opened, may answer.
          if (event.origin === location.origin && event.source === this.window && accept(event.data)) {
            finish(null, event.data.url);
          }
        };
        // BroadcastChannel is same-origin by construction; used when COOP cut window.opener.
        channel.onmessage = (event) => { if (accept(event.data)) finish(null, event.data.url); };
        addEventListener("message", onMessage);
        const timer = setInterval(() => {
          if (!this.window.closed) return;
          closedSince = closedSince || Date.now();
          if (Date.now() - closedSince > GRACE_MS) finish(new Error("closed"));
        }, CLOSED_POLL_MS);
      });
    }
  }

  Object.defineProperty(window, "spalabPopup", { value: Object.freeze({ open: () => new SignInPopup() }) });
})();
