// The conversation: the room's log in seq order (gaps fetched, duplicates dropped; changes applied
// to their messages, see changes.js), older pages loaded as the log is scrolled up, and jumps to an
// old message (a search hit).
//
// Same delivery rules as the Python ChatClient (docs/protocol.md section 4): ordering.js decides
// what goes on screen; this module fetches `history after` while a room has a gap.

import { isConnected, request } from "./connection.js";
import { $, clean, notice } from "./dom.js";
import { kindOf } from "./changes.js";
import { floorText, passFloor } from "./floor.js";
import { appendItem, appendNotice, atBottom, itemEl, redraw, scrollToBottom } from "./log.js";
import { renderTyping } from "./people.js";
import { aroundPage } from "./quotes.js";
import { current, join, label, renderRoomButton, rooms, roomOf, scheduleRead } from "./rooms.js";
import { isMe } from "./session.js";
import { arrived } from "./notify.js";
import { noticed } from "./settings.js";
import { threadPage, threadReply } from "./thread.js";
import { noticeEl } from "./view.js";

const PAGE = 100; // messages per `history before` page
const JUMP_PAGE_MAX = 500; // a jump to an old search hit loads up to this many per page
const HIT_SHOWN_MS = 2500; // how long a message a jump reached stays highlighted

let jump = null; // {room, seq}: a message to show once its page is loaded

/** Take the entry that is next in seq order: a message goes on screen (before any pending sends
 * of ours), a change is applied to the message it targets, a notice goes on screen as one line
 * and changes the room (its topic, its roles). */
function append(room, m, live) {
  const shown = room.name === current;
  const stick = shown && atBottom();
  const changed = room.state.apply(m);
  if (room.oldest === null) room.oldest = m.seq;
  room.lastSeq = Math.max(room.lastSeq, m.seq);
  if (kindOf(m) === "notice") {
    appendNotice(room, m);
    noticed(room, m);
    if (stick) scrollToBottom();
    return;
  }
  if (kindOf(m) !== "message") {
    redraw(room, changed);
    if (stick) scrollToBottom();
    return;
  }
  const mine = isMe(m.nick);
  const held = room.state.get(m.seq);
  appendItem(room, held);
  redraw(room, changed.slice(1)); // its thread's root counts one reply more
  threadReply(room, held);
  room.typing.delete(m.nick);
  if (live && !mine) {
    arrived(room, m); // a notification or a tone, when it is meant for the user
    if (shown && document.visibilityState === "visible") {
      $("announce").textContent = `${clean(m.nick)}: ${clean(m.body)}`;
    } else {
      room.unread += 1;
      renderRoomButton(room);
    }
  }
  if (mine) room.readSeq = Math.max(room.readSeq, m.seq); // sending moves our own marker
  if (stick) scrollToBottom();
  if (shown) {
    renderTyping(room);
    scheduleRead();
  }
}

function show(room, ready, live) {
  for (const m of ready) append(room, m, live);
}

/** The ordering rule for every message, live or from a history page. */
function accept(room, m, live) {
  show(room, room.order.offer(m), live);
  if (room.order.gap) fillGap(room);
}

export function fillGap(room) {
  if (room.gapFilling || !isConnected() || room.last === null) return;
  room.gapFilling = true;
  request({ type: "history", room: room.name, after: room.last, limit: 500 }, "after", room);
}

/** A message, a change to one (`edit`, `delete`, `react`) or to the room (`notice`): an entry
 * of the room's log. */
export function onMessage(frame) {
  if (!rooms.has(frame.room) && !frame.room.startsWith("dm:")) return; // a room we just left
  const room = roomOf(frame.room);
  if (room.removed) return; // removed from it: nothing more is shown, whatever still comes
  if (room.last === null && !room.joined && !room.joining) {
    join(room); // a direct conversation someone just opened with us: its history brings this one
    if (!isMe(frame.nick)) room.unread += 1;
    if (!isMe(frame.nick) && kindOf(frame) === "message") arrived(room, frame); // not live then
    renderRoomButton(room);
  }
  accept(room, frame, true);
}

export function history(frame, pending) {
  if (rooms.has(frame.room) && rooms.get(frame.room).removed) return undefined; // asked before
  const room = roomOf(frame.room);
  const kind = pending ? pending.kind : "after";
  show(room, passFloor(room, frame), false);
  if (kind === "older") return prependOlder(room, frame);
  if (kind === "around") return aroundPage(frame);
  if (kind === "thread") return threadPage(frame);
  const messages = frame.messages;
  if (kind === "join" && room.last === null) {
    // the first page of this room: the newest messages, `more` says whether older ones exist;
    // the first message appended becomes the room's `oldest`
    room.more = frame.more;
    show(room, room.order.advance(messages.length ? messages[0].seq - 1 : room.lastSeq), false);
    for (const m of messages) accept(room, m, false);
  } else {
    room.gapFilling = false;
    for (const m of messages) accept(room, m, false);
    if (frame.more) fillGap(room);
  }
  if (room.order.gap) fillGap(room);
  if (room.name === current) {
    renderLogTop(room);
    scheduleRead();
    tryJump();
    requestAnimationFrame(maybeLoadOlder);
  }
  return undefined;
}

export function renderLogTop(room) {
  let text = "";
  if (room.loadingOlder) text = "Loading older messages…";
  else if (room.last !== null && !room.more) {
    text = floorText(room) || `This is the start of ${label(room)}.`;
  }
  $("log-top").textContent = text;
}

function loadOlder(room, limit) {
  room.loadingOlder = true;
  renderLogTop(room);
  request({ type: "history", room: room.name, before: room.oldest, limit }, "older", room);
}

/** Near the top of the log (or the log not full): fetch the page before the oldest shown. */
export function maybeLoadOlder() {
  const room = rooms.get(current);
  const log = $("log");
  if (!room || !room.more || room.loadingOlder || !isConnected() || room.oldest === null) return;
  if (log.scrollTop > 200 && log.scrollHeight > log.clientHeight) return;
  loadOlder(room, PAGE);
}

function prependOlder(room, frame) {
  room.loadingOlder = false;
  room.more = frame.more;
  const older = frame.messages.filter((m) => room.oldest === null || m.seq < room.oldest);
  if (older.length > 0) {
    const log = $("log");
    const fromBottom = log.scrollHeight - log.scrollTop;
    const changed = older.flatMap((m) => room.state.apply(m));
    const shown = older.filter((m) => kindOf(m) === "message" || kindOf(m) === "notice");
    const nodes = shown.map((m) =>
      kindOf(m) === "notice" ? noticeEl(m) : itemEl(room, room.state.get(m.seq)),
    );
    room.list.prepend(...nodes);
    room.oldest = older[0].seq;
    redraw(room, changed);
    if (room.name === current) log.scrollTop = log.scrollHeight - fromBottom;
  }
  if (room.name === current) {
    renderLogTop(room);
    tryJump();
    requestAnimationFrame(maybeLoadOlder);
  }
}

/** Show message `seq` of the current room `name`: load older pages until it is there, highlight it. */
export function reveal(name, seq) {
  jump = { room: name, seq };
  tryJump();
}

/** Another room is being shown: a message still loading elsewhere is no longer wanted. */
export function cancelReveal() {
  jump = null;
}

function tryJump() {
  if (!jump) return;
  const room = rooms.get(jump.room);
  if (!room || current !== jump.room) {
    jump = null;
    return;
  }
  const item = room.list.querySelector(`.msg[data-seq="${jump.seq}"]:not(.pending)`);
  if (item) {
    jump = null;
    item.scrollIntoView({ block: "center" });
    item.classList.add("hit");
    setTimeout(() => item.classList.remove("hit"), HIT_SHOWN_MS);
    return;
  }
  if (room.last === null || room.oldest === null || jump.seq >= room.oldest) return; // coming
  if (!room.more) {
    jump = null;
    notice("That message is no longer there.");
    return;
  }
  if (room.loadingOlder || !isConnected()) return; // the page on its way (or the rejoin) retries
  loadOlder(room, Math.min(JUMP_PAGE_MAX, Math.max(PAGE, room.oldest - jump.seq + 10)));
}
