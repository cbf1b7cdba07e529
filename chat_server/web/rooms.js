// The rooms this tab is in: their records, the sidebar's lists with unread counts, joins, read markers.
//
// A room record holds the room's ordering (`order`, see ordering.js), its messages as they are now
// (`state`, see changes.js), its topic and roles (roles.js) and its own message list element,
// which the log shows while the room is the current one.

import { request, transmit } from "./connection.js";
import { $, el } from "./dom.js";
import { RoomState } from "./changes.js";
import { Sequencer } from "./ordering.js";
import { me } from "./session.js";

const READ_BATCH_MS = 300;

export const rooms = new Map(); // name -> room
export let current = null; // the name of the room on screen
let readTimer = null;

export function setCurrent(name) {
  current = name;
}

export function dmRoom(a, b) {
  return "dm:" + [a.toLowerCase(), b.toLowerCase()].sort().join(":");
}

function newRoom(name) {
  const dm = name.startsWith("dm:");
  const room = {
    name,
    dm,
    peer: null, // for a dm: the other nick (display case once known)
    order: new Sequencer(), // its `last` is null until the first join's history
    get last() {
      return this.order.last; // highest contiguous seq applied
    },
    state: new RoomState(), // its messages as they are now (edits, deletes, reactions applied)
    quoting: new Set(), // seqs of quoted messages asked for with `history around`
    lastSeq: 0,
    readSeq: 0,
    unread: 0,
    oldest: null,
    more: false, // older pages exist
    floor: 1, // the first seq the server still stores (retention: floor.js)
    retentionS: null, // how long the room keeps its entries, in seconds (null: forever)
    loadingOlder: false,
    gapFilling: false,
    members: [], // those known by name: a big room's joined lists its first 500 (people.js)
    memberCount: 0, // joined.member_count, moved by presence joined/left
    membersAfter: null, // where the next page of members starts (null: every page loaded)
    loadingMembers: false, // a members page is on its way
    online: new Set(),
    topic: "", // joined.topic, then topic notices
    private: false, // joined.private: invited members only, never listed
    roles: new Map(), // lower-cased nick -> "owner" | "op" (roles.js); everyone else is a member
    stateSeq: 0, // the seq topic and roles are as of (joined.last_seq, then each notice applied)
    removed: null, // {by, reason}: kicked or banned; the room stays on screen, greyed, with why
    joined: false,
    joining: false, // a join is on its way
    typing: new Map(), // nick -> expiry time
    scroll: null, // saved scrollTop while another room is shown (null: stick to the bottom)
    list: el("ol", "messages"),
    item: el("li"),
    button: el("button", "room"),
  };
  if (dm) {
    const pair = name.slice(3).split(":");
    room.peer = pair[0] === me.nick.toLowerCase() ? pair[1] : pair[0];
  }
  room.button.type = "button";
  room.button.dataset.room = name; // the lists' click handler selects the room by this name
  room.item.append(room.button);
  room.list.dataset.room = name;
  rooms.set(name, room);
  (dm ? $("dm-list") : $("room-list")).append(room.item);
  sortRoomList(dm ? $("dm-list") : $("room-list"));
  renderRoomButton(room);
  return room;
}

export function roomOf(name) {
  return rooms.get(name) || newRoom(name);
}

export function label(room) {
  return room.dm ? "@" + room.peer : "#" + room.name;
}

/** The label of a room by name, whether or not this tab is in it. */
export function roomLabel(name) {
  const room = rooms.get(name);
  if (room) return label(room);
  if (!name.startsWith("dm:")) return "#" + name;
  const pair = name.slice(3).split(":");
  return "@" + (pair[0] === me.nick.toLowerCase() ? pair[1] : pair[0]);
}

function sortRoomList(list) {
  const items = Array.from(list.children);
  items.sort((a, b) => a.firstChild.dataset.room.localeCompare(b.firstChild.dataset.room));
  list.append(...items);
}

export function renderRoomButton(room) {
  const button = room.button;
  const name = el("span", "name");
  if (room.private) name.append(lockEl());
  name.append(label(room));
  const parts = [name];
  button.classList.toggle("removed", room.removed !== null);
  if (room.unread > 0 && room.name !== current) {
    const badge = el("span", "badge", String(room.unread));
    badge.setAttribute("aria-label", `${room.unread} unread`);
    parts.push(badge);
  }
  button.replaceChildren(...parts);
  if (room.name === current) button.setAttribute("aria-current", "page");
  else button.removeAttribute("aria-current");
  let total = 0;
  // every room, this one too while the tab is hidden (its count is cleared when it is seen)
  for (const other of rooms.values()) total += other.unread;
  document.title = total > 0 ? `(${total}) chat` : "chat"; // seen from another tab
}

/** The mark of a private room (invited members only): a padlock drawn by style.css (an emoji
 * font is not everywhere). */
export function lockEl() {
  const lock = el("span", "lock");
  lock.title = "Private: invited members only";
  lock.setAttribute("role", "img");
  lock.setAttribute("aria-label", "private");
  return lock;
}

/** Join (or re-join with `since`, after a reconnect); the answer is `joined` then `history`.
 * A room we were removed from is joined only when the user asks `again`. */
export function join(room, again = false) {
  if (room.joining || room.joined || (room.removed && !again)) return;
  room.joining = true;
  const frame = { type: "join", room: room.name };
  if (room.last !== null) frame.since = room.last;
  request(frame, "join", room);
}

/** The connection is gone: nothing is joined or on its way any more. */
export function roomsDisconnected() {
  for (const room of rooms.values()) {
    room.joined = false;
    room.joining = false;
    room.loadingOlder = false;
    room.gapFilling = false;
    room.typing.clear();
    room.quoting.clear();
  }
}

/** Forget every room (a logout, or another login on this tab). */
export function clearRooms() {
  for (const room of rooms.values()) room.item.remove();
  rooms.clear();
  current = null;
}

export function readMoved(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  room.readSeq = Math.max(room.readSeq, frame.seq);
  if (room.readSeq >= room.lastSeq) room.unread = 0;
  renderRoomButton(room);
}

export function scheduleRead() {
  if (readTimer === null) readTimer = setTimeout(flushRead, READ_BATCH_MS);
}

/** Move the read marker of the room on screen to what is shown (batched: one frame per burst). */
export function flushRead() {
  clearTimeout(readTimer);
  readTimer = null;
  const room = rooms.get(current);
  if (!room || !room.joined || room.last === null || document.visibilityState !== "visible") return;
  room.unread = 0;
  renderRoomButton(room);
  if (room.last > room.readSeq) {
    room.readSeq = room.last;
    transmit({ type: "read", room: room.name, seq: room.last });
  }
}
