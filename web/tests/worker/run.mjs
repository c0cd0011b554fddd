// Runs the package's token worker (web/client/spalab_auth/worker.js) in Node with the few worker
// globals it uses: `self` (location, onmessage, postMessage) and a fetch that records each request
// and answers from a script. Reads a JSON scenario on stdin, prints what happened as JSON.
//   {"url": "worker.js?…", "answers": [{status, headers, body}], "messages": [<text sent to the worker>]}
import { readFileSync } from "node:fs";
import vm from "node:vm";

const scenario = JSON.parse(readFileSync(0, "utf8"));
const source = readFileSync(new URL("../../client/spalab_auth/worker.js", import.meta.url), "utf8");
const sent = [];
const posted = [];
const answers = scenario.answers.slice();
const self = {
  location: new URL(scenario.url, "http://localhost:8000/pkg/"),
  postMessage: (data) => posted.push(JSON.parse(data)),
};
async function fetch(url, init) {
  sent.push({url: String(url), init: init});
  const answer = answers.shift();
  if (!answer) throw new TypeError("Failed to fetch");
  return new Response(answer.body, {status: answer.status, headers: answer.headers || {}});
}
const context = vm.createContext({
  self, fetch, URL, URLSearchParams, Response, TextEncoder, crypto, btoa, JSON, Object, Number, String, Boolean,
});
vm.runInContext(source, context);
for (const message of scenario.messages) {
  await self.onmessage({data: message});
}
console.log(JSON.stringify({sent, posted}));
