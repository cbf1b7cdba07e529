// The message log's items and scroll position, and our own sends shown as pending until stored.
//
// A pending item stays at the end of its room's list (sending…, then sent once acked) until its
// message arrives in seq order and takes its place, or the server refuses it (not sent).

import { $, el } from "./dom.js";
import { wantQuote } from "./quotes.js";
import { isMe, me } from "./session.js";
import { messageEl, noticeEl, quoteText } from "./view.js";

const pendingEls = new Map(); // id -> <li> shown as pending/sent until its message arrives

/** The element of a held message of `room` (its record in `room.state`). */
export function itemEl(room, m) {
  if (m.reply_to != null && !room.state.has(m.reply_to)) wantQuote(room, m.reply_to);
  return messageEl(m, m.reply_to != null ? room.state.get(m.reply_to) : undefined);
}

/** Where `room`'s messages are on screen: its log, and the thread panel while it shows the room. */
function views(room) {
  const lists = [room.list];
  const thread = $("thread-list");
  if (!$("thread-panel").hidden && thread.dataset.room === room.name) lists.push(thread);
  return lists;
}

/** Messages `seqs` of `room` changed: draw them again, and the quotes of the replies to them. */
export function redraw(room, seqs) {
  for (const seq of seqs) {
    const m = room.state.get(seq);
    if (!m) continue;
    for (const list of views(room)) {
      for (const old of list.querySelectorAll(`.msg[data-seq="${seq}"]:not(.pending)`)) {
        if (old.classList.contains("editing")) old.dataset.stale = "1"; // redrawn when done
        else old.replaceWith(itemEl(room, m));
      }
      for (const quote of list.querySelectorAll(`.msg[data-reply-to="${seq}"] > .quote`)) {
        quote.textContent = quoteText(m);
      }
    }
  }
}

export function atBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

export function scrollToBottom() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

/** Put message `m` (its record) at the end of `room`'s list, before our pending sends (replacing its own). */
export function appendItem(room, m) {
  const pending = pendingEls.get(m.id);
  if (isMe(m.nick) && pending) {
    pending.remove();
    pendingEls.delete(m.id);
  }
  room.list.insertBefore(itemEl(room, m), room.list.querySelector(".pending"));
}

/** Put a `notice` entry at the end of `room`'s list, before our pending sends. */
export function appendNotice(room, entry) {
  room.list.insertBefore(noticeEl(entry), room.list.querySelector(".pending"));
}

export function showPending(room, frame) {
  const now = new Date().toISOString();
  const sending = { seq: 0, id: frame.id, nick: me.nick, body: frame.body, ts: now };
  if (frame.reply_to != null) sending.reply_to = frame.reply_to;
  const item = messageEl(sending, room.state.get(frame.reply_to), true);
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
