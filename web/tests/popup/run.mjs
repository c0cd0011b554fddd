// popup.js (web/client/spalab_auth/popup.js) under Node, with the browser's windows scripted: reads a
// scenario's name on stdin, runs it, prints what happened as JSON. test_popup_js.py asks for each one.
// A scripted popup: `closed`, whether its location is readable (`crossOrigin`: it throws, as a page of
// another origin does), the URLs it was sent to, and whether window.open opened it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SOURCE = fileURLToPath(new URL("../../client/spalab_auth/popup.js", import.meta.url));
const APP = "https://app.example";
const listeners = new Set();
let blocked = false;
let opened = 0;

function scriptedPopup() {
  const popup = {
    closed: false, crossOrigin: false, href: "about:blank", sentTo: [], focused: 0,
    get location() {
      return {
        get href() { if (popup.crossOrigin) throw new Error("SecurityError"); return popup.href; },
        replace(url) { popup.sentTo.push(url); },
      };
    },
    close() { popup.closed = true; },
    focus() { popup.focused += 1; },
  };
  return popup;
}

globalThis.window = globalThis;
globalThis.location = { origin: APP, href: APP + "/" };
globalThis.addEventListener = (type, listener) => listeners.add(listener);
globalThis.removeEventListener = (type, listener) => listeners.delete(listener);
globalThis.open = () => { if (blocked) return null; opened += 1; return scriptedPopup(); };
new Function(readFileSync(SOURCE, "utf8"))();

const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const outcome = (signIn) => {
  const result = { value: "pending" };
  signIn.wait().then((url) => { result.value = "answer " + url; }, (error) => { result.value = error.message; });
  return result;
};
// A sign-in sent out for `state` (to `at`, the provider's authorization endpoint), and how its wait ended.
const started = (state, at = "https://idp.example/authorize") => {
  const signIn = spalabPopup.open();
  signIn.navigate(`${at}?state=${state}`);
  return [signIn, outcome(signIn)];
};
const channel = new BroadcastChannel("spalab:callback");
const broadcast = (state) => channel.postMessage({ type: "spalab:callback", url: `${APP}/cb?code=c&state=${state}` });

const scenarios = {
  // A second click while the first sign-in was still building its URL: the first never sends the window.
  async "superseded-before-navigate"() {
    const first = spalabPopup.open();
    const second = spalabPopup.open();
    first.navigate("https://idp.example/authorize?state=first");
    second.navigate("https://idp.example/authorize?state=second");
    const firstEnd = outcome(first), secondEnd = outcome(second);
    await tick(20);
    return { sameWindow: first.window === second.window, opened, sentTo: second.window.sentTo, first: firstEnd.value,
      second: secondEnd.value };
  },
  // The second window was blocked: the first sign-in goes on, and takes its own answer.
  async "second-blocked"() {
    const [first, firstEnd] = started("first");
    first.window.closed = true; // cut off by COOP
    await tick(250);
    blocked = true;
    const second = spalabPopup.open();
    broadcast("first");
    await tick(50);
    return { secondBlocked: second.blocked, first: firstEnd.value };
  },
  // Cut off by COOP, a second click opens a new window; the visitor finishes in the first.
  async "handed-over"() {
    const [first, firstEnd] = started("first");
    first.window.closed = true;
    await tick(250);
    const [second, secondEnd] = started("second");
    await tick(20);
    const afterSupersede = firstEnd.value;
    broadcast("forged");
    await tick(50);
    const afterForged = secondEnd.value;
    broadcast("first");
    await tick(50);
    return { opened, first: afterSupersede, afterForged, second: secondEnd.value };
  },
  // The app gave up (sign_in failed after navigate, its finally closed the popup): no one listens any more.
  async "closed-while-waiting"() {
    const [first, firstEnd] = started("first");
    first.window.closed = true; // a cut-off popup: close() cannot close it, it only reads closed
    first.close();
    await tick(20);
    broadcast("first");
    await tick(50);
    return { first: firstEnd.value, listeners: listeners.size };
  },
  // Seen at the provider, then closed: the visitor closed it (about a second). Cut off before any provider
  // page showed: still waiting after that.
  async "closed-or-cut-off"() {
    const [seen, seenEnd] = started("seen");
    seen.window.crossOrigin = true;
    await tick(250);
    seen.window.closed = true;
    await tick(1500);
    // A provider of the app's own origin: its pages are readable, and not about:blank.
    const [sameOrigin, sameEnd] = started("same", APP + "/authorize");
    sameOrigin.window.href = APP + "/login";
    await tick(250);
    sameOrigin.window.closed = true;
    await tick(1500);
    const [cut, cutEnd] = started("cut");
    cut.window.closed = true;
    await tick(1500);
    return { seen: seenEnd.value, sameOrigin: sameEnd.value, cut: cutEnd.value };
  },
};

const name = readFileSync(0, "utf8").trim();
const result = await scenarios[name]();
channel.close();
process.stdout.write(JSON.stringify(result));
process.exit(0);
