// Which room is on screen (its header: name, lock, topic), and the changes to the room list the
// server reports (joined, left, and removed by someone: kicked or banned).

import { cancelReply } from "./actions.js";
import { request } from "./connection.js";
import { $, clean } from "./dom.js";
import { joinedFloor } from "./floor.js";
import { atBottom, redrawAll, scrollToBottom } from "./log.js";
import { cancelReveal, maybeLoadOlder, renderLogTop } from "./messages.js";
import { joinedMembers, renderMembers, renderTyping } from "./people.js";
import {
  current,
  flushRead,
  join,
  label,
  renderRoomButton,
  roomOf,
  rooms,
  scheduleRead,
  setCurrent,
} from "./rooms.js";
import { invitationOver } from "./invites.js";
import { closeOverlays } from "./layout.js";
import { roleOf, rolesFrom } from "./roles.js";
import { isMe, me } from "./session.js";
import { closeSettings, renderSettings } from "./settings.js";
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
  closeOverlays(); // on a phone, choosing a room in the drawer shows it
  cancelReveal(); // a message still loading elsewhere is no longer wanted
  if (name !== current) {
    closeThread();
    closeSettings();
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

/** The header of the room on screen: its name, the lock of a private room, its topic; and what
 * the composer says when the room has been taken from the user. */
export function renderHeader(room) {
  $("room-title").textContent = room ? label(room) : "No room";
  $("room-lock").hidden = !room || !room.private;
  const topic = room ? clean(room.topic).replace(/\s+/g, " ").trim() : "";
  $("room-topic").textContent = topic;
  $("room-topic").title = topic;
  $("settings").hidden = !room || room.dm || room.removed !== null;
  $("leave").hidden = !room || room.dm;
  const gone = room !== null && room.removed !== null;
  $("conversation").classList.toggle("removed", gone);
  $("removed").hidden = !gone;
  $("input").disabled = gone;
  $("send").disabled = gone;
  if (!room) return;
  const verb = gone ? "Close" : "Leave";
  $("leave").textContent = verb;
  $("leave").setAttribute("aria-label", `${verb} ${label(room)}`);
  if (gone) {
    const who = clean(room.removed.by || "someone");
    const why = clean(room.removed.reason || "").replace(/\s+/g, " ").trim();
    $("removed-text").textContent = `${who} removed you from ${label(room)}${why ? ": " + why : "."}`;
    $("rejoin").hidden = room.private;
  }
}

function showRoom(room) {
  const log = $("log");
  renderHeader(room);
  if (!room) {
    log.replaceChildren($("log-top"));
    $("member-list").replaceChildren();
    $("people-count").textContent = "";
    $("members-more").hidden = true;
    $("typing").textContent = "";
    return;
  }
  $("input-label").textContent = `Message ${label(room)}`;
  $("input").placeholder = `Message ${label(room)}`;
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
  joinedMembers(room, frame);
  room.topic = typeof frame.topic === "string" ? frame.topic : "";
  room.private = frame.private === true;
  const before = roleOf(room.roles, me.nick);
  room.roles = rolesFrom(frame.roles);
  if (roleOf(room.roles, me.nick) !== before) redrawAll(room); // who may delete what
  room.stateSeq = frame.last_seq;
  joinedFloor(room, frame);
  room.removed = null; // joined again
  invitationOver(room.name);
  if (room.dm) {
    const other = frame.members.find((n) => !isMe(n));
    if (other) room.peer = other;
  }
  renderRoomButton(room);
  if (room.name === current) {
    renderHeader(room);
    renderMembers(room);
    renderSettings();
  }
}

/** `left`: the answer to our `leave` (the room goes), or, with `by`, someone removed us (kicked
 * or banned): the room stays on screen, greyed, saying who and why, and shows nothing more. */
export function left(frame) {
  invitationOver(frame.room); // the answer to declining an invitation
  const room = rooms.get(frame.room);
  if (!room || typeof frame.by !== "string") {
    removeRoom(frame.room);
    return;
  }
  room.removed = { by: frame.by, reason: typeof frame.reason === "string" ? frame.reason : "" };
  Object.assign(room, { joined: false, joining: false, loadingOlder: false, gapFilling: false });
  room.typing.clear();
  room.unread = 0;
  renderRoomButton(room);
  if (room.name === current) {
    closeThread();
    closeSettings();
    renderHeader(room);
    renderTyping(room);
  }
}

/** Leave the room on screen; one we were removed from is only closed (the server forgot us). */
export function leaveCurrent() {
  const room = rooms.get(current);
  if (!room || room.dm) return;
  if (room.removed) removeRoom(room.name);
  else request({ type: "leave", room: room.name }, "leave", room);
}

/** Join again a public room we were removed from (the server refuses it to the banned); the
 * room stays greyed until `joined` comes. */
export function rejoinCurrent() {
  const room = rooms.get(current);
  if (room && room.removed) join(room, true);
}
