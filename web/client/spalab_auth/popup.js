// Popup sign-in, the window plumbing only: open the popup, send it to the provider,
// and wait for the tiny callback page (popup-callback.html) to hand back its URL.
// Every OAuth check (state, iss, PKCE, tokens) stays in Python, as for a redirect.
(() => {
  "use strict";
  const FEATURES = "popup,width=520,height=700";
  const CLOSED_POLL_MS = 100;
  const GRACE_MS = 1000; // a message sent just before the popup closed may still be on its way
  // A provider page that sends Cross-Origin-Opener-Policy cuts this page's link to the popup: from then
  // on the popup reads as closed, though the visitor is still signing in there, and its answer comes over
  // the BroadcastChannel. How long to wait for it: the transaction's own lifetime (MAX_AGE_SECONDS in
  // core/transaction.py); the package refuses an older answer anyway.
  const CUT_OFF_WAIT_MS = 600 * 1000;
  let current = null; // the sign-in waiting for its answer; a new one takes its place
  // The states of sign-ins a newer one took over, and until when: their popup may still be open where this
  // page cannot see it (cut off by COOP, the newer one got a window of its own), and the visitor may finish
  // there. The newer sign-in takes that answer too; the package finds its transaction by its state.
  const handedOver = new Map();

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
      this.outcome = ""; // why wait() failed, for the Python side: "closed", "unanswered" or "superseded"
      // Opened at once, inside the click that started the sign-in, so no popup blocker
      // objects; it is sent to the provider once the authorization URL is built. A window still
      // open for the sign-in this one replaces is taken over as it is: opening it again by name
      // would send it to about:blank, a navigation that Firefox can let finish after ours.
      const previous = current;
      const open = previous && previous.window && !previous.window.closed ? previous.window : null;
      this.window = open || window.open("about:blank", "spalab-signin", FEATURES);
      if (!this.window) return; // blocked: a sign-in still pending goes on
      if (open) open.focus();
      if (previous) previous.supersede();
      current = this;
    }

    get blocked() {
      return !this.window;
    }

    // Listening starts before the popup leaves: with a live provider session and remembered
    // consent, the answer can arrive before the app gets round to wait().
    navigate(url) {
      if (this.superseded) {
        // A newer sign-in took over before this one was sent out: the window is the newer one's now.
        this.outcome = "superseded";
        this.result = Promise.reject(new Error("superseded"));
        this.result.catch(() => {});
        return;
      }
      this.state = stateOf(url);
      this.result = this.listen();
      this.result.catch(() => {}); // handled by whoever awaits wait(); no "unhandled rejection" before
      this.window.location.replace(url);
    }

    close() {
      if (this.end) return this.end(new Error("closed")); // still waiting (the app gave up): stop, then close
      // A superseded sign-in's window is the newer one's.
      if (this.window && !this.window.closed && !this.superseded) this.window.close();
      if (current === this) current = null;
    }

    // A new sign-in started while this one waited (its popup was cut off, say, and the visitor closed it
    // where this page cannot see): this one ends with "superseded", and leaves the window to the new one.
    supersede() {
      this.superseded = true;
      if (this.state) handedOver.set(this.state, Date.now() + CUT_OFF_WAIT_MS);
      if (this.end) this.end(new Error("superseded"));
    }

    // Resolves with the callback URL. Rejects with Error("closed") if the popup closes without answering;
    // with Error("unanswered") if the link to it was cut (COOP) and no answer came while the transaction
    // lived; with Error("superseded") if another sign-in started meanwhile.
    wait() {
      return this.result || this.listen();
    }

    listen() {
      return new Promise((resolve, reject) => {
        const channel = new BroadcastChannel("spalab:callback");
        let closedSince = 0;
        let seenAway = false; // seen showing a page (not about:blank) with the link intact
        const finish = (error, url) => {
          this.end = null;
          if (current === this) current = null;
          if (error) this.outcome = error.message;
          removeEventListener("message", onMessage);
          channel.close();
          clearInterval(timer);
          this.close();
          if (error) reject(error); else resolve(url);
        };
        const accept = (data) => {
          if (!data || data.type !== "spalab:callback" || typeof data.url !== "string") return false;
          // The answer to this sign-in (or to one it took over) only: any same-origin page may post on the
          // channel (the callback page opened by another site with noopener, say), and must not end this wait.
          const state = stateOf(data.url);
          if (this.state && state !== this.state && !(handedOver.get(state) > Date.now())) return false;
          handedOver.delete(state);
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
        this.end = (error) => finish(error);
        const timer = setInterval(() => {
          if (!this.window.closed) {
            if (!seenAway) {
              try {
                // Readable: about:blank still, or a page of this origin (a provider here, our callback page).
                seenAway = this.window.location.href !== "about:blank";
              } catch (error) {
                seenAway = true; // at the provider's origin, and the popup still answers to this page
              }
            }
            return;
          }
          closedSince = closedSince || Date.now();
          // Closed after the provider's page was seen in it: the visitor closed it. Closed before: the
          // provider's first page most likely cut the link (COOP), which looks the same from here, so keep
          // listening on the channel while the transaction lives (or until a new sign-in starts).
          if (seenAway && Date.now() - closedSince > GRACE_MS) finish(new Error("closed"));
          else if (!seenAway && Date.now() - closedSince > CUT_OFF_WAIT_MS) finish(new Error("unanswered"));
        }, CLOSED_POLL_MS);
      });
    }
  }

  Object.defineProperty(window, "spalabPopup", { value: Object.freeze({ open: () => new SignInPopup() }) });
})();
