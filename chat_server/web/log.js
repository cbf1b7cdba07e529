// The message log's items and scroll position, and our own sends shown as pending until stored.
//
// A pending item stays at the end of its room's list (sending…, then sent once acked) until its
// message arrives in seq order and takes its place, or the server refuses it (not sent).

import { $, clean, el, timeEl } from "./dom.js";
import { isMe, me } from "./session.js";

const pendingEls = new Map(); // id -> <li> shown as pending/sent until its message arrives

export function messageEl(m) {
  const item = el("li", "msg");
  item.dataset.seq = String(m.seq);
  item.dataset.id = m.id;
  const head = el("div", "meta");
  const nick = el("span", "nick", clean(m.nick));
  head.append(nick, " ", timeEl(m.ts));
  item.append(head, el("div", "body", clean(m.body)));
  if (isMe(m.nick)) item.classList.add("mine");
  return item;
}

export function atBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

export function scrollToBottom() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

/** Put message `m` at the end of `room`'s list, before our pending sends (replacing its own). */
export function appendItem(room, m) {
  const pending = pendingEls.get(m.id);
  if (isMe(m.nick) && pending) {
    pending.remove();
    pendingEls.delete(m.id);
  }
  room.list.insertBefore(messageEl(m), room.list.querySelector(".pending"));
}

export function showPending(room, frame) {
  const now = new Date().toISOString();
  const item = messageEl({ seq: 0, id: frame.id, nick: me.nick, body: frame.body, ts: now });
  item.classList.add("pending");
  item.dataset.state = "pending";
  item.querySelector(".meta").append(" ", el("span", "state", "sending…"));
  room.list.append(item);
  pendingEls.set(frame.id, item);
}

/** The send `id` was stored as `seq`: sent, or gone if its message is already on screen. */
export function pendingAcked(room, id, seq) {
  const item = pendingEls.get(id);
  if (!item) return;
  if (room.last !== null && seq <= room.last) {
    item.remove(); // its message is already on screen (a re-sent id answers the original ack)
    pendingEls.delete(id);
    return;
  }
  item.dataset.state = "sent";
  item.querySelector(".state").textContent = "sent";
}

export function pendingFailed(id, why) {
  const item = pendingEls.get(id);
  if (!item) return;
  pendingEls.delete(id);
  item.classList.remove("pending");
  item.classList.add("failed");
  item.dataset.state = "failed";
  item.querySelector(".state").textContent = `not sent: ${why}`;
}

export function clearPending() {
  pendingEls.clear();
}
