// Invitations to rooms: the welcome's list and the live `invite` events, in the sidebar with
// Accept (join the room) and Decline (leave it: the server forgets the invitation).
//
// An invitation is listed until its room is joined or declined. Someone the user blocked cannot
// invite them (the server refuses it), so an invitation from a pest is one click from gone with
// every later one: Block declines it and blocks its sender.

import { setBlocked } from "./blocks.js";
import { transmit } from "./connection.js";
import { $, clean, el } from "./dom.js";
import { selectRoom } from "./nav.js";
import { join, lockEl, roomOf, rooms } from "./rooms.js";

const MAX_INVITES = 100; // as many as a welcome lists; a flood of live ones stops here

const invites = new Map(); // room name -> {room, by, private}

function valid(invite) {
  return invite && typeof invite.room === "string" && /^[a-z0-9_-]{1,64}$/.test(invite.room);
}

function add(invite) {
  const room = rooms.get(invite.room);
  if (room && (room.joined || room.joining)) return; // a member already
  if (invites.size >= MAX_INVITES && !invites.has(invite.room)) return;
  invites.set(invite.room, {
    room: invite.room,
    by: typeof invite.by === "string" ? invite.by : "",
    private: invite.private === true,
  });
}

/** The welcome's `invites` (a list of {room, by, private}; a bare room name is taken too). */
export function knownInvites(list) {
  invites.clear();
  if (Array.isArray(list)) {
    for (const item of list) {
      const invite = typeof item === "string" ? { room: item } : item;
      if (valid(invite)) add(invite);
    }
  }
  renderInvites();
}

/** A live `invite` {room, by, private}. */
export function invited(frame) {
  if (!valid(frame)) return;
  add(frame);
  renderInvites();
}

/** The room was joined or left (here or in another tab): its invitation is over. */
export function invitationOver(name) {
  if (invites.delete(name)) renderInvites();
}

export function clearInvites() {
  invites.clear();
  renderInvites();
}

function inviteEl(invite) {
  const item = el("li", "invite");
  item.dataset.room = invite.room;
  const what = el("span", "what");
  if (invite.private) what.append(lockEl());
  what.append(el("span", "name", `#${invite.room}`));
  if (invite.by) what.append(" ", el("span", "by", `from ${clean(invite.by)}`));
  const accept = el("button", "", "Accept");
  accept.type = "button";
  accept.dataset.answer = "accept";
  accept.setAttribute("aria-label", `Accept the invitation to #${invite.room}`);
  const decline = el("button", "link", "Decline");
  decline.type = "button";
  decline.dataset.answer = "decline";
  decline.setAttribute("aria-label", `Decline the invitation to #${invite.room}`);
  const answers = el("span", "answers");
  answers.append(accept, decline);
  if (invite.by) {
    const block = el("button", "link block", "Block");
    block.type = "button";
    block.dataset.answer = "block";
    block.setAttribute("aria-label", `Decline and block ${clean(invite.by)}`);
    answers.append(block);
  }
  item.append(what, answers);
  return item;
}

export function renderInvites() {
  const items = Array.from(invites.values(), inviteEl);
  $("invite-list").replaceChildren(...items);
  $("invites").hidden = items.length === 0;
}

function answered(event) {
  const button = event.target.closest("button[data-answer]");
  if (!button) return;
  const name = button.closest("li").dataset.room;
  const invite = invites.get(name);
  invitationOver(name);
  if (button.dataset.answer === "accept") {
    join(roomOf(name), true); // also a room we were removed from and are invited back to
    selectRoom(name);
    return;
  }
  transmit({ type: "leave", room: name }); // its `left` answers; nothing to remove here
  if (button.dataset.answer === "block" && invite && invite.by) setBlocked(invite.by, true);
}

export function wireInvites() {
  $("invite-list").addEventListener("click", answered);
}
