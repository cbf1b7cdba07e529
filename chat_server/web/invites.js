// Invitations to rooms: the welcome's list and the live `invite` events, in the sidebar with
// Accept (join the room) and Decline (leave it: the server forgets the invitation).
//
// An invitation is listed until its room is joined or declined, here or in another tab. Someone
// the user blocked cannot invite them (the server refuses it), so what is listed is wanted or
// one click from gone.

import { transmit } from "./connection.js";
import { $, clean, el } from "./dom.js";
import { selectRoom } from "./nav.js";
import { join, lockEl, roomOf, rooms } from "./rooms.js";

const invites = new Map(); // room name -> {room, by, private}

function valid(invite) {
  return invite && typeof invite.room === "string" && /^[a-z0-9_-]{1,64}$/.test(invite.room);
}

function add(invite) {
  const room = rooms.get(invite.room);
  if (room && (room.joined || room.joining)) return; // a member already
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
  invitationOver(name);
  if (button.dataset.answer === "accept") {
    join(roomOf(name), true); // also a room we were removed from and are invited back to
    selectRoom(name);
  } else {
    transmit({ type: "leave", room: name }); // its `left` answers; nothing to remove here
  }
}

export function wireInvites() {
  $("invite-list").addEventListener("click", answered);
}
