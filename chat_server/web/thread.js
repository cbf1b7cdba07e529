// The thread panel: a thread's root and its replies (`history` with `thread`, paged with `after`),
// kept up to date live, and a composer whose messages answer the root (`send` with `reply_to`).

import { isConnected, request } from "./connection.js";
import { $, clean } from "./dom.js";
import { itemEl, redraw } from "./log.js";
import { sendMessage } from "./outbox.js";
import { current, rooms } from "./rooms.js";

const PAGE = 100;

let open = null; // {room, root}: the thread on screen

function setThreadStatus(text) {
  $("thread-status").textContent = text;
}

/** Open the thread of message `seq` of the room on screen (the root's, when `seq` is a reply). */
export function openThread(seq) {
  const room = rooms.get(current);
  if (!room) return;
  const m = room.state.get(seq);
  const root = m && m.thread != null ? m.thread : seq;
  open = { room: room.name, root };
  const list = $("thread-list");
  list.dataset.room = room.name;
  list.replaceChildren();
  $("thread-panel").hidden = false;
  const held = room.state.get(root);
  $("thread-heading").textContent = held ? `Thread: ${clean(held.nick)}` : "Thread";
  if (!isConnected()) {
    setThreadStatus("Not connected: open the thread again once reconnected.");
    return;
  }
  setThreadStatus("Loading…");
  request({ type: "history", room: room.name, thread: root, limit: PAGE }, "thread", room);
  $("thread-input").focus();
}

export function closeThread() {
  if (open === null) return;
  const inside = $("thread-panel").contains(document.activeElement);
  open = null;
  $("thread-panel").hidden = true;
  $("thread-list").replaceChildren();
  if (inside) $("input").focus();
}

export function threadOpen() {
  return open !== null;
}

function inThread(m) {
  return open !== null && (m.seq === open.root || m.thread === open.root);
}

function add(room, m) {
  const list = $("thread-list");
  if (list.querySelector(`.msg[data-seq="${m.seq}"]`)) return;
  const item = itemEl(room, m);
  const after = Array.from(list.children).find((other) => Number(other.dataset.seq) > m.seq);
  list.insertBefore(item, after || null);
  if (!after) list.scrollTop = list.scrollHeight;
}

/** A page of the open thread: its messages as they are now, in the panel; the next page asked. */
export function threadPage(frame) {
  const room = rooms.get(frame.room);
  if (!room || open === null || open.room !== room.name) return;
  const page = frame.messages.filter(inThread);
  redraw(room, page.flatMap((entry) => room.state.apply(entry)));
  for (const entry of page) add(room, room.state.get(entry.seq));
  const root = room.state.get(open.root);
  if (root) $("thread-heading").textContent = `Thread: ${clean(root.nick)}`;
  if (frame.more && page.length > 0) {
    const after = page[page.length - 1].seq;
    request({ type: "history", room: room.name, thread: open.root, after, limit: PAGE }, "thread", room);
    return;
  }
  const count = $("thread-list").children.length - 1;
  setThreadStatus(count === 1 ? "1 reply" : `${Math.max(0, count)} replies`);
}

/** A thread page was refused. */
export function threadFailed(message) {
  if (open !== null) setThreadStatus(`Cannot show the thread: ${clean(message)}`);
}

/** A message arrived in seq order: into the panel when it answers the open thread. */
export function threadReply(room, m) {
  if (open === null || open.room !== room.name || !inThread(m)) return;
  add(room, m);
  const count = $("thread-list").children.length - 1;
  setThreadStatus(count === 1 ? "1 reply" : `${count} replies`);
}

/** The thread composer: the message answers the thread's root. */
export function sendInThread(body) {
  if (open === null) return;
  sendMessage(body, open.root);
}
