// The lab's live experiments (E3, E10), served at /lab/live.js.
// Written with textContent only: nothing from the URL ever becomes markup.
"use strict";
const verdict = document.getElementById("verdict");
const say = (text) => { verdict.textContent = text; };
if (location.pathname === "/lab/landing") {
  say(location.hash
    ? "This browser re-attached the fragment after the redirect: this page's URL ends in " + location.hash +
      ". An implicit-flow token would have followed you here."
    : "This browser did not re-attach the fragment after the redirect.");
} else if (location.pathname === "/lab/timeline") {
  history.replaceState(null, "", location.pathname);
  const entry = performance.getEntriesByType("navigation")[0];
  const kept = entry ? entry.name : "(no navigation entry)";
  say("Address bar after replaceState: " + location.href + " — but performance.getEntriesByType('navigation')[0].name " +
      "still reads " + kept + ". Any script in the page can read a token from there for as long as the page lives.");
}
