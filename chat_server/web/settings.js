// Rooms with owners on the page: the room settings panel (topic, members with their roles, invite,
// kick, ban and unban, op and deop, ownership handed on), creating a room from the sidebar, and
// what a `notice` changes in the room (its topic, its roles).
//
// The panel offers what roles.js says the viewer may do; the server decides. Each command goes
// through the outbox (an id kept until its ack, re-sent after a reconnect); what it did shows
// when its notice comes back, in the log and here, as on every other client.

import { $, clean, el, notice } from "./dom.js";
import { renderHeader, selectRoom } from "./nav.js";
import { submitChange } from "./outbox.js";
import { renderMembers, roleEl } from "./people.js";
import { applyNotice, may, roleOf } from "./roles.js";
import { current, label, rooms } from "./rooms.js";
import { isMe, me } from "./session.js";

const ROOM_NAME = /^[a-z0-9_-]{1,64}$/;
const NICK = /^[A-Za-z0-9_-]{1,32}$/;

let open = false;
let asking = null; // {nick, action}: the kick, ban or handover waiting for its confirmation
const creating = new Map(); // id of a `create` -> the room's name, shown once acked

function viewer(room) {
  return { role: roleOf(room.roles, me.nick), admin: me.admin === true };
}

/** A notice entry of `room` came in seq order: apply it when it is newer than what `joined`
 * said, and redraw what shows it. */
export function noticed(room, entry) {
  if (entry.seq <= room.stateSeq) return;
  room.stateSeq = entry.seq;
  if (!applyNotice(room, entry) || room.name !== current) return;
  renderHeader(room);
  renderMembers(room);
  renderSettings();
}

export function openSettings() {
  const room = rooms.get(current);
  if (!room || room.dm || room.removed) return;
  open = true;
  asking = null;
  $("settings-panel").hidden = false;
  renderSettings();
  $("settings-close").focus();
}

export function closeSettings() {
  if (!open) return;
  const inside = $("settings-panel").contains(document.activeElement);
  open = false;
  asking = null;
  $("settings-panel").hidden = true;
  if (inside) $("settings").focus();
}

export function settingsOpen() {
  return open;
}

/** Draw the panel again from the room on screen (its roles, members, topic changed). */
export function renderSettings() {
  const room = rooms.get(current);
  if (!open) return;
  if (!room || room.dm || room.removed) {
    closeSettings();
    return;
  }
  const actor = viewer(room);
  $("settings-heading").textContent = `Settings of ${label(room)}`;
  $("settings-kind").textContent = room.private
    ? "Private: only members and the people they invite can join; it is not listed."
    : "Public: anyone can join.";
  const canTopic = may("topic", actor, room);
  $("topic-form").hidden = !canTopic;
  $("topic-view").hidden = canTopic;
  $("topic-view").textContent = room.topic ? `Topic: ${clean(room.topic)}` : "No topic.";
  if (canTopic && document.activeElement !== $("topic-input")) $("topic-input").value = room.topic;
  $("invite-form").hidden = !may("invite", actor, room);
  $("ban-form").hidden = !may("unban", actor, room);
  $("settings-members").replaceChildren(...room.members.map((nick) => memberRow(room, actor, nick)));
}

function commandButton(action, text, nick, className = "") {
  const button = el("button", `link ${className}`.trim(), text);
  button.type = "button";
  button.dataset.command = action;
  button.setAttribute("aria-label", `${text}: ${clean(nick)}`);
  return button;
}

const OFFERS = [
  ["op", "Make op"],
  ["deop", "Remove op"],
  ["owner", "Make owner"],
  ["drop", "Step down"],
  ["kick", "Kick"],
  ["ban", "Ban"],
];

function memberRow(room, actor, nick) {
  const role = roleOf(room.roles, nick);
  const target = { role, self: isMe(nick) };
  const item = el("li", "member-row");
  item.dataset.nick = nick;
  const name = el("span", "nick", clean(nick));
  name.title = clean(nick);
  item.append(name, " ");
  if (role !== "member") item.append(roleEl(role), " ");
  if (asking && asking.nick === nick) {
    item.append(confirmBox(nick, asking.action));
    return item;
  }
  const offered = OFFERS.filter(([action]) => may(action, actor, room, target));
  if (offered.length > 0) {
    const bar = el("span", "commands");
    for (const [action, text] of offered) {
      bar.append(commandButton(action, text, nick, action === "ban" ? "danger-link" : ""));
    }
    item.append(bar);
  }
  return item;
}

/** Kick or ban `nick` (with an optional reason), or hand them the room: asked once, in the row. */
function confirmBox(nick, action) {
  const box = el("form", "confirm-command");
  box.dataset.nick = nick;
  box.dataset.command = action;
  const what = { kick: "Kick", ban: "Ban", owner: "Make owner" }[action];
  if (action !== "owner") {
    const reason = el("input", "reason");
    reason.maxLength = 500;
    reason.placeholder = "Reason (optional)";
    reason.setAttribute("aria-label", `Why ${clean(nick)} is removed (optional)`);
    box.append(reason);
  } else {
    box.append(el("span", "", `Hand the room to ${clean(nick)}? You become an op. `));
  }
  const yes = el("button", "danger", `${what} ${clean(nick)}`);
  yes.type = "submit";
  const no = el("button", "link", "Cancel");
  no.type = "button";
  no.dataset.command = "cancel";
  box.append(yes, no);
  return box;
}

/** Send a room command for the room on screen (its notice shows what it did). */
function command(change) {
  const room = rooms.get(current);
  if (room) submitChange(room.name, change);
}

const COMMANDS = {
  op: (nick) => command({ type: "role", nick, role: "op" }),
  deop: (nick) => command({ type: "role", nick, role: "member" }),
  drop: (nick) => command({ type: "role", nick, role: "member" }),
  owner: (nick) => ask(nick, "owner"),
  kick: (nick) => ask(nick, "kick"),
  ban: (nick) => ask(nick, "ban"),
  cancel: () => ask(null, null),
};

function ask(nick, action) {
  asking = nick === null ? null : { nick, action };
  renderSettings();
  const row = nick === null ? null : $("settings-members").querySelector(".confirm-command");
  if (row) (row.querySelector("input") || row.querySelector("button")).focus();
}

function confirmed(event) {
  event.preventDefault();
  const box = event.target;
  const { nick, command: action } = box.dataset;
  const input = box.querySelector("input.reason");
  const reason = input ? input.value.trim() : "";
  asking = null;
  if (action === "owner") command({ type: "role", nick, role: "owner" });
  else command(reason ? { type: action, nick, reason } : { type: action, nick });
  renderSettings();
}

function nickField(id) {
  const nick = $(id).value.trim().replace(/^@/, "");
  if (NICK.test(nick)) return nick;
  notice("A nick is 1 to 32 letters, digits, _ or -.");
  $(id).focus();
  return null;
}

/** Create a room from the sidebar's form: public or private, with a topic; shown once acked. */
function create(event) {
  event.preventDefault();
  const name = $("create-name").value.trim();
  if (!ROOM_NAME.test(name)) {
    notice("A room name is 1 to 64 of a-z, 0-9, _ and -.");
    $("create-name").focus();
    return;
  }
  const change = { type: "create", private: $("create-private").checked };
  const topic = $("create-topic").value.trim();
  if (topic) change.topic = topic;
  creating.set(submitChange(name, change), name);
  $("create-form").reset();
  $("create-room").open = false;
}

/** An ack: a room we created is joined (outbox.js) and shown. */
export function createdAck(frame) {
  const name = creating.get(frame.id);
  if (name === undefined) return;
  creating.delete(frame.id);
  if (rooms.has(name)) selectRoom(name);
}

export function wireSettings() {
  $("settings").addEventListener("click", openSettings);
  $("settings-close").addEventListener("click", closeSettings);
  $("create-form").addEventListener("submit", create);
  $("topic-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const topic = $("topic-input").value.replace(/\s+/g, " ").trim();
    command({ type: "topic", topic });
    $("topic-input").blur();
  });
  $("invite-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = nickField("invite-nick");
    if (nick === null) return;
    command({ type: "invite", nick });
    $("invite-nick").value = "";
  });
  $("ban-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = nickField("ban-nick");
    if (nick === null) return;
    const action = event.submitter && event.submitter.dataset.command === "unban" ? "unban" : "ban";
    const reason = $("ban-reason").value.trim();
    command(reason && action === "ban" ? { type: action, nick, reason } : { type: action, nick });
    $("ban-form").reset();
  });
  $("settings-members").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-command]");
    if (!button) return;
    const row = button.closest("li");
    COMMANDS[button.dataset.command](row ? row.dataset.nick : null);
  });
  $("settings-members").addEventListener("submit", confirmed);
}
