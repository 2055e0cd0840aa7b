// CallCue bridge: example web host (plain JavaScript, no build step).
//
// HTTP commands use fetch() with "Authorization: Bearer <token>" (the browser sends a CORS preflight
// first; the bridge answers it only for allowed origins). Browsers cannot set headers on a WebSocket,
// so the token travels as a second subprotocol: ["callcue.v1", "token.<token>"]; the bridge selects
// "callcue.v1" and never echoes the token.
//
// Automation (and curious developers) can read window.callcueHost: {status, events, answers, errors}.
"use strict";

const PROTOCOL = 1;
const host = (window.callcueHost = { status: "idle", events: [], answers: [], errors: [] });
const $ = (id) => document.getElementById(id);

function settings() {
  return { url: $("bridge-url").value.replace(/\/+$/, ""), token: $("token").value.trim() };
}

function setStatus(kind, text) {
  host.status = kind;
  $("status").dataset.kind = kind;
  $("status").textContent = text;
}

function logLine(type, text, refused) {
  const item = document.createElement("li");
  if (refused) item.className = "refused";
  const label = document.createElement("span");
  label.className = "type";
  label.textContent = type;
  item.append(label, document.createTextNode(text));
  $("events").prepend(item);
}

// Every command goes through here: the answer is a protocol message, or an error saying why.
async function command(method, path, body) {
  const { url, token } = settings();
  const init = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url + path, init);
  } catch (failure) {
    // A refused CORS preflight (origin not allowed) or no panel listening: the browser hides which.
    const error = { type: "error", status: 0, error: "unreachable", message: String(failure) };
    host.errors.push(error);
    logLine("refused", `${method} ${path}: ${failure} (origin not allowed, or the panel is not running)`, true);
    $("last-answer").textContent = JSON.stringify(error);
    return error;
  }
  const answer = await response.json();
  (answer.type === "error" ? host.errors : host.answers).push(answer);
  $("last-answer").textContent = JSON.stringify(answer);
  if (answer.type === "error") {
    logLine("error " + answer.status, `${answer.error}${answer.field ? " (" + answer.field + ")" : ""}: ${answer.message}`, true);
  }
  return answer;
}

function sendCall(fields) {
  const call = fields || {
    call_id: $("call-id").value.trim() || "web-" + Date.now(),
    state: $("state").value,
    ani: $("ani").value.trim() || undefined,
    customer_id: $("customer-id").value.trim() || undefined,
  };
  $("call-id").value = call.call_id;
  return command("POST", "/v1/calls", { v: PROTOCOL, type: "call", ...call });
}

function describe(event) {
  const d = event.data || {};
  switch (event.type) {
    case "pop.shown":
      return `call ${d.call_id}: ${d.state}, customer ${d.customer_id ?? "—"}, ${d.offers.length} offer(s)${d.update ? " (update)" : ""}`;
    case "outcome.recorded":
      return `call ${d.call_id}: ${d.result}${d.offer_id ? " on " + d.offer_id : ""}`;
    case "sync.state":
      return `${d.kind}, ${d.pending} pending`;
    case "call.ignored":
      return `call ${d.call_id}: ${d.reason} — ${d.detail}`;
    case "call.updated":
      return `call ${d.call_id}: transfer applied${d.refetch ? ", fetching the new party" : ""}`;
    case "call.closed":
      return `call ${d.call_id}: ${d.reason}`;
    case "events.dropped":
      return `${event.count} event(s) dropped (this page fell behind)`;
    default:
      return JSON.stringify(event);
  }
}

let socket = null;

function connect() {
  const { url, token } = settings();
  if (socket) socket.close();
  setStatus("connecting", "connecting…");
  const wsUrl = url.replace(/^http/, "ws") + "/v1/events";
  try {
    socket = new WebSocket(wsUrl, ["callcue.v1", "token." + token]);
  } catch (failure) {
    setStatus("error", "cannot connect: " + failure.message);
    return;
  }
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") {
      setStatus("ok", `connected to ${event.app} ${event.app_version} (protocol ${event.protocol})`);
      return;
    }
    host.events.push(event);
    logLine(event.type, describe(event), false);
  };
  // A refused handshake (wrong token, origin not allowed) surfaces as an error then a close (code 1006).
  socket.onerror = () => setStatus("error", "the bridge refused the connection (token? allowed origin?)");
  socket.onclose = (closed) => {
    if (host.status !== "error") setStatus("error", `disconnected (code ${closed.code})`);
  };
}

function readAddress() {
  // #bridge=http://127.0.0.1:47615&token=… : handy for IT links; removed from the address bar at once.
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("bridge")) $("bridge-url").value = params.get("bridge");
  if (params.get("token")) $("token").value = params.get("token");
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return params.has("connect");
}

$("connect").addEventListener("click", connect);
$("send-call").addEventListener("click", () => sendCall());
$("show").addEventListener("click", () => command("POST", "/v1/panel/show"));
$("hide").addEventListener("click", () => command("POST", "/v1/panel/hide"));
$("get-state").addEventListener("click", () => command("GET", "/v1/state"));

host.connect = connect;
host.sendCall = sendCall;
host.command = command;
if (readAddress()) connect();
