// Sends (and edits, deletes, reactions) that are never lost nor stored twice: each keeps its id until
// its ack, survives a reload of the tab (sessionStorage), and is re-sent with the same id after a
// reconnect.

import { isConnected, transmit } from "./connection.js";
import { clean, notice } from "./dom.js";
import { pendingAcked, pendingFailed, scrollToBottom, showPending } from "./log.js";
import { current, join, rooms, roomOf } from "./rooms.js";
import { me } from "./session.js";

const OUTBOX_KEY = "chat.outbox"; // in sessionStorage: this tab's unacked sends survive a reload
const RETRY_MS = 2000; // a send the server could not take now (rate limit, internal error)

const outbox = new Map(); // id -> {frame, room}; kept until the ack, re-sent after a reconnect
let restoring = null; // the nick whose saved outbox is shown and re-sent after the first welcome

// An idempotency key that sorts by time (microseconds, 13 hex digits, as chat-tui's), then
// 64 random bits: the server stores time-ordered keys at the end of its key index.
function newId() {
  const bytes = new Uint8Array(8); // crypto.randomUUID needs a secure context; this does not
  crypto.getRandomValues(bytes);
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return (Date.now() * 1000).toString(16).padStart(13, "0") + random;
}

/** Send `body` to the room on screen (answering message `replyTo` when given). */
export function sendMessage(body, replyTo = null) {
  const room = rooms.get(current);
  if (!room) return;
  const id = newId();
  const frame = { type: "send", body, id, ref: id };
  if (room.dm) frame.to = room.peer;
  else frame.room = room.name;
  if (replyTo !== null) frame.reply_to = replyTo;
  outbox.set(id, { frame, room: room.name });
  saveOutbox();
  showPending(room, frame);
  scrollToBottom();
  if (isConnected()) transmit(frame);
}

/** Ask for a change to a message (`edit`, `delete`, `react`) or to a room (`create`, `topic`,
 * `invite`, `kick`, `ban`, `unban`, `role`): kept like a send until its ack, re-sent with its id
 * after a reconnect; its entry shows the change when it comes back. Its id. */
export function submitChange(roomName, change) {
  const id = newId();
  const frame = { ...change, room: roomName, id, ref: id };
  outbox.set(id, { frame, room: roomName });
  saveOutbox();
  if (isConnected()) transmit(frame);
  return id;
}

// What a refused request was, for "Could not …: why".
const DOING = {
  edit: "edit",
  delete: "delete",
  react: "react",
  create: "create the room",
  topic: "set the topic",
  invite: "invite",
  kick: "kick",
  ban: "ban",
  unban: "unban",
  role: "change the role",
};

function saveOutbox() {
  const entries = Array.from(outbox.values());
  if (entries.length === 0) sessionStorage.removeItem(OUTBOX_KEY);
  else sessionStorage.setItem(OUTBOX_KEY, JSON.stringify({ nick: me.nick, entries }));
}

/** Take the sends this tab had not seen acked before it reloaded (shown after the welcome). */
export function loadOutbox() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || "null");
    if (!saved || !Array.isArray(saved.entries)) return;
    for (const entry of saved.entries) outbox.set(entry.frame.id, entry);
    restoring = String(saved.nick);
  } catch {
    sessionStorage.removeItem(OUTBOX_KEY);
  }
}

/** Logged in as `nick`: show restored sends (if they are this nick's) and send every unacked one. */
export function resend(nick) {
  if (restoring !== null) {
    // sends that were waiting for their ack when this tab reloaded: same ids, so never twice
    if (restoring.toLowerCase() === nick.toLowerCase()) {
      for (const entry of outbox.values()) {
      if (entry.frame.type === "send") showPending(roomOf(entry.room), entry.frame);
    }
    } else {
      outbox.clear();
      saveOutbox();
    }
    restoring = null;
  }
  for (const { frame: send } of outbox.values()) transmit(send);
}

export function onAck(frame) {
  outbox.delete(frame.id);
  saveOutbox();
  const room = roomOf(frame.room);
  if (!room.joined && !room.joining) join(room); // a first direct message created the room
  pendingAcked(room, frame.id, frame.seq);
}

/** An error frame answering one of our sends: retried later, or shown as not sent. */
export function refused(frame) {
  if (!frame.ref || !outbox.has(frame.ref)) return false;
  if (frame.code === "rate_limited" || frame.code === "internal") {
    const entry = outbox.get(frame.ref);
    setTimeout(() => isConnected() && transmit(entry.frame), RETRY_MS); // same id: idempotent
  } else {
    const { frame: asked } = outbox.get(frame.ref);
    outbox.delete(frame.ref);
    saveOutbox();
    if (asked.type === "send") pendingFailed(frame.ref, clean(frame.message));
    else notice(`Could not ${DOING[asked.type] || asked.type}: ${clean(frame.message)}`);
  }
  return true;
}

/** Forget every unacked send (a logout, or another login on this tab). */
export function clearOutbox() {
  outbox.clear();
  sessionStorage.removeItem(OUTBOX_KEY);
  restoring = null;
}
