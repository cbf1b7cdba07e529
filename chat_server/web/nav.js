// Which room is on screen, and the changes to the room list the server reports (joined, left).

import { cancelReply } from "./actions.js";
import { request } from "./connection.js";
import { $ } from "./dom.js";
import { atBottom, scrollToBottom } from "./log.js";
import { cancelReveal, maybeLoadOlder, renderLogTop } from "./messages.js";
import { renderMembers, renderTyping } from "./people.js";
import {
  current,
  flushRead,
  label,
  renderRoomButton,
  roomOf,
  rooms,
  scheduleRead,
  setCurrent,
} from "./rooms.js";
import { isMe } from "./session.js";
import { closeThread } from "./thread.js";

const ROOM_KEY = "chat.room"; // in localStorage: the room shown last, shown first next time

/** The room to show after a login: the one shown last if still ours, else a public one. */
export function firstRoom() {
  const saved = localStorage.getItem(ROOM_KEY);
  const names = Array.from(rooms.keys());
  const fallback = names.find((name) => !name.startsWith("dm:")) || names[0];
  return saved && rooms.has(saved) ? saved : fallback;
}

export function selectRoom(name) {
  cancelReveal(); // a message still loading elsewhere is no longer wanted
  if (name !== current) {
    closeThread();
    cancelReply();
  }
  flushRead(); // what was on screen in the room we leave has been seen
  const previous = rooms.get(current);
  if (previous && previous.name !== name) previous.scroll = atBottom() ? null : $("log").scrollTop;
  setCurrent(name);
  localStorage.setItem(ROOM_KEY, name);
  for (const room of rooms.values()) renderRoomButton(room);
  showRoom(rooms.get(name) || null);
  $("input").focus();
}

function showRoom(room) {
  const log = $("log");
  if (!room) {
    $("room-title").textContent = "No room";
    log.replaceChildren($("log-top"));
    $("member-list").replaceChildren();
    $("typing").textContent = "";
    return;
  }
  $("room-title").textContent = label(room);
  $("input-label").textContent = `Message ${label(room)}`;
  $("input").placeholder = `Message ${label(room)}`;
  $("leave").hidden = room.dm;
  $("leave").setAttribute("aria-label", `Leave ${label(room)}`);
  log.replaceChildren($("log-top"), room.list);
  renderLogTop(room);
  renderMembers(room);
  renderTyping(room);
  if (room.scroll === null) scrollToBottom();
  else log.scrollTop = room.scroll;
  room.unread = 0;
  renderRoomButton(room);
  scheduleRead();
  maybeLoadOlder();
}

export function removeRoom(name) {
  const room = rooms.get(name);
  if (!room) return;
  room.item.remove();
  rooms.delete(name);
  if (current === name) {
    setCurrent(null);
    const next = rooms.keys().next();
    if (!next.done) selectRoom(next.value);
    else showRoom(null);
  }
}

export function joined(frame) {
  const room = roomOf(frame.room);
  room.joined = true;
  room.joining = false;
  room.lastSeq = frame.last_seq;
  room.members = frame.members.slice();
  room.online = new Set(frame.online);
  if (room.dm) {
    const other = frame.members.find((n) => !isMe(n));
    if (other) room.peer = other;
    renderRoomButton(room);
    if (room.name === current) $("room-title").textContent = label(room);
  }
  if (room.name === current) renderMembers(room);
}

export function left(frame) {
  removeRoom(frame.room);
}

export function leaveCurrent() {
  const room = rooms.get(current);
  if (room && !room.dm) request({ type: "leave", room: room.name }, "leave", room);
}
