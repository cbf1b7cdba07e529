// The websocket: hello on open, requests with refs, frames to their handlers by type, reconnects.
//
// Handlers are registered per frame type (`on`); a frame of a type nobody registered is ignored
// (forward compatible). What a close means (log in again, or retry with backoff) is the caller's
// call (`whenClosed`); the backoff itself lives here.

import { setStatus } from "./dom.js";
import { hello } from "./session.js";

const BACKOFF_FIRST_MS = 500;
// A restart is noticed within 3 s of the server being back; the jitter spreads the clients.
const BACKOFF_MAX_MS = 3000;

const handlers = new Map(); // frame type -> handler(frame, pending request or undefined)
const requests = new Map(); // ref -> {kind, room}: what an answer answers
const link = {
  ws: null,
  connected: false,
  attempt: 0,
  timer: null,
  refCount: 0,
  closed: null,
  toldMs: 0, // what the last close asked to wait (a stopping server spreads its crowd)
};

/** The wait a close asks for: a 1001 whose reason is `retry_after=S` (docs/protocol.md). */
export function goingAwayWaitMs(code, reason) {
  const match = code === 1001 ? /^retry_after=(\d{1,6}(?:\.\d)?)$/.exec(reason || "") : null;
  const seconds = match ? Number(match[1]) : 0;
  return seconds <= 3600 ? seconds * 1000 : 0; // longer: a typo or a hostile proxy, not a wait
}

export function on(type, handler) {
  handlers.set(type, handler);
}

/** Call `hook(code)` when the socket closes by itself (not after `disconnect`). */
export function whenClosed(hook) {
  link.closed = hook;
}

/** Whether a welcome arrived on the current socket (requests may be sent). */
export function isConnected() {
  return link.connected;
}

function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

export function transmit(frame) {
  if (link.ws && link.ws.readyState === WebSocket.OPEN) link.ws.send(JSON.stringify(frame));
}

/** Send `frame` with a fresh ref; its answer reaches the handlers with `{kind, room}`. */
export function request(frame, kind, room) {
  const ref = `${kind}-${++link.refCount}`;
  requests.set(ref, { kind, room: room ? room.name : null });
  transmit({ ...frame, ref });
  return ref;
}

export function connect() {
  clearTimeout(link.timer);
  link.timer = null;
  const ws = new WebSocket(wsUrl());
  link.ws = ws;
  ws.addEventListener("open", () => request(hello(), "hello"));
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === "string") dispatch(frame);
  });
  ws.addEventListener("close", (event) => {
    if (link.ws !== ws) return;
    link.ws = null;
    link.connected = false;
    link.toldMs = goingAwayWaitMs(event.code, event.reason);
    requests.clear();
    if (link.closed) link.closed(event.code);
  });
}

function dispatch(frame) {
  const pending = frame.ref ? requests.get(frame.ref) : undefined;
  if (pending && frame.type !== "joined") requests.delete(frame.ref); // its history follows
  if (frame.type === "welcome") {
    link.connected = true;
    link.attempt = 0;
  }
  const handler = handlers.get(frame.type);
  if (handler) handler(frame, pending);
}

/** Connect again after a growing, jittered delay (a restart is not a stampede). */
export function retryLater() {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** link.attempt);
  const backoff = delay / 2 + Math.random() * (delay / 2);
  // never sooner than the server asked, plus up to a second (as chat's other clients)
  const wait = link.toldMs ? Math.max(backoff, link.toldMs + Math.random() * 1000) : backoff;
  link.toldMs = 0;
  link.attempt += 1;
  setStatus(`Disconnected. Reconnecting in ${Math.ceil(wait / 1000)} s…`);
  link.timer = setTimeout(connect, wait);
}

/** The network is back: do not wait for the backoff. */
export function retryNow() {
  if (link.timer !== null) connect();
}

/** Close the socket for good (its close event is ignored) and stop any retry. */
export function disconnect() {
  clearTimeout(link.timer);
  link.timer = null;
  if (link.ws) {
    const ws = link.ws;
    link.ws = null;
    ws.close(1000);
  }
}

/** Start the next login from a fresh backoff. */
export function resetBackoff() {
  link.attempt = 0;
}
