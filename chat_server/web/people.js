// Who is in the room on screen: the members with their presence (greyed while not known) and
// roles, how many there are, and who is typing. A big room's `joined` lists its first 500
// members and says how many it has (`member_count`); "Show more" asks for the next page
// (`members` after the last nick loaded) and appends it.

import { isConnected, request, transmit } from "./connection.js";
import { $, clean, el } from "./dom.js";
import { roleOf } from "./roles.js";
import { current, rooms } from "./rooms.js";
import { me } from "./session.js";
import { renderSettings } from "./settings.js";

const TYPING_EVERY_MS = 3000; // the server relays at most one typing per 3 s per room
const TYPING_SHOWN_MS = 5000;

let lastTyping = 0;

export function presence(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  const known = room.members.some((n) => n.toLowerCase() === frame.nick.toLowerCase());
  if (frame.status === "online") room.online.add(frame.nick);
  else if (frame.status === "offline") room.online.delete(frame.nick);
  else if (frame.status === "joined" && !known) {
    room.members.push(frame.nick);
    room.members.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    room.memberCount += 1;
  } else if (frame.status === "left") {
    room.members = room.members.filter((n) => n.toLowerCase() !== frame.nick.toLowerCase());
    room.roles.delete(frame.nick.toLowerCase()); // roles end with membership
    room.memberCount = Math.max(room.memberCount - 1, room.members.length);
  }
  if (frame.status === "joined") room.online.add(frame.nick);
  if (room.name !== current) return;
  renderMembers(room);
  if (frame.status === "joined" || frame.status === "left") renderSettings();
}

/** `joined`: the first page of the room's members (all of them in a room of at most 500), the
 * online ones among them, and how many members the room has. */
export function joinedMembers(room, frame) {
  const members = Array.isArray(frame.members) ? frame.members.map(String) : [];
  room.members = members;
  room.online = new Set(Array.isArray(frame.online) ? frame.online.map(String) : []);
  // a server older than member_count listed everyone
  const count = Number.isInteger(frame.member_count) ? frame.member_count : members.length;
  room.memberCount = Math.max(count, members.length);
  room.membersAfter = count > members.length && members.length ? members[members.length - 1] : null;
  room.loadingMembers = false;
}

/** "Show more": ask for the page of `room`'s members (the room on screen's by default) after
 * the last one loaded. */
export function moreMembers(room = rooms.get(current)) {
  if (!room || !room.joined || room.membersAfter === null || room.loadingMembers) return;
  room.loadingMembers = true;
  request({ type: "members", room: room.name, after: room.membersAfter }, "members", room);
  if (room.name === current) renderMembers(room);
}

/** A page of members: appended (someone a live event listed already, once). */
export function membersPage(frame) {
  const room = rooms.get(frame.room);
  if (!room || !Array.isArray(frame.members)) return;
  room.loadingMembers = false;
  const known = new Set(room.members.map((n) => n.toLowerCase()));
  for (const nick of frame.members.map(String)) {
    if (!known.has(nick.toLowerCase())) room.members.push(nick);
  }
  for (const nick of Array.isArray(frame.online) ? frame.online : []) room.online.add(String(nick));
  room.memberCount = Math.max(room.memberCount, room.members.length);
  const last = frame.members[frame.members.length - 1];
  room.membersAfter = frame.more === true && last !== undefined ? String(last) : null;
  if (room.name === current) renderMembers(room);
}

/** The members of `room`, with their presence while it is known: only while joined (after a
 * disconnect the list stays, greyed, saying so, until the room is joined again). */
export function renderMembers(room) {
  const known = room.joined;
  $("people").classList.toggle("stale", !known);
  $("people-status").textContent = known || isConnected() ? "" : "Offline: reconnecting…";
  const count = Math.max(room.memberCount, room.members.length);
  const plural = count === 1 ? "" : "s";
  $("people-count").textContent = `${count.toLocaleString("en-US")} member${plural}`;
  const more = $("members-more");
  more.hidden = room.membersAfter === null || !known;
  more.disabled = room.loadingMembers === true;
  const unlisted = Math.max(count - room.members.length, 1).toLocaleString("en-US");
  more.textContent = `Show more (${unlisted} not listed)`;
  const items = room.members.map((nick) => {
    const self = nick.toLowerCase() === me.nick.toLowerCase();
    const on = room.online.has(nick) || self;
    const status = !known ? "unknown" : on ? "online" : "offline";
    const item = el("li", `member ${status}`);
    item.dataset.nick = nick;
    item.dataset.status = status;
    const name = el("span", "nick", clean(nick));
    name.title = clean(nick); // in full, where a long one is cut short
    item.append(el("span", "dot"), name, " ");
    const role = roleOf(room.roles, nick);
    if (role !== "member") item.append(roleEl(role), " ");
    item.append(el("span", "presence", known ? status : ""));
    if (!self) item.append(blockButton(nick));
    return item;
  });
  $("member-list").replaceChildren(...items);
}

/** The mark of an owner or an op beside their name. */
export function roleEl(role) {
  const mark = el("span", `role role-${role}`, role);
  mark.title = role === "owner" ? "Owner of the room" : "Op: may kick, ban and set the topic";
  return mark;
}

/** Block or unblock a member (app.js acts on the click: data-block is "block" or "unblock"). */
function blockButton(nick) {
  const blocked = me.blocked.has(nick.toLowerCase());
  const button = el("button", "link block", blocked ? "Unblock" : "Block");
  button.type = "button";
  button.dataset.block = blocked ? "unblock" : "block"; // the nick is its item's data-nick
  button.setAttribute("aria-label", `${blocked ? "Unblock" : "Block"} ${clean(nick)}`);
  return button;
}

export function typing(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  room.typing.set(frame.nick, Date.now() + TYPING_SHOWN_MS);
  if (room.name === current) renderTyping(room);
  setTimeout(() => room.name === current && renderTyping(room), TYPING_SHOWN_MS + 50);
}

export function renderTyping(room) {
  const now = Date.now();
  for (const [nick, until] of room.typing) if (until <= now) room.typing.delete(nick);
  const nicks = Array.from(room.typing.keys(), clean);
  let text = "";
  if (nicks.length === 1) text = `${nicks[0]} is typing…`;
  else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
  else if (nicks.length > 2) text = "Several people are typing…";
  $("typing").textContent = text;
}

/** Something was typed in the composer: tell the room, at most once per TYPING_EVERY_MS. */
export function typed(text) {
  const room = rooms.get(current);
  const now = Date.now();
  if (!room || !room.joined || !text || now - lastTyping < TYPING_EVERY_MS) return;
  lastTyping = now;
  transmit({ type: "typing", room: room.name });
}
