// What a person does to a message: reply, react (a small picker, or a tap on a reaction), edit
// (edit.js), delete (asked once). The actions show on hover and focus, and on touch after a tap
// or a long press.
//
// Every request goes through the outbox (ids kept until acked, re-sent after a reconnect); what
// it changes shows when its entry comes back from the server, as on every other client.

import { $, clean, el } from "./dom.js";
import { startEdit } from "./edit.js";
import { reveal } from "./messages.js";
import { submitChange } from "./outbox.js";
import { current, rooms } from "./rooms.js";
import { isMe } from "./session.js";
import { openThread } from "./thread.js";
import { canDelete, quoteText } from "./view.js";

export const PICKER = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];
const LONG_PRESS_MS = 500;

let replyTo = null; // {room, seq}: the message the composer's next message answers
let pressTimer = null;

/** The message an event happened in: its element, room, seq and record (null: none, or pending). */
export function located(node) {
  const item = node.closest(".msg");
  const list = item && item.closest("ol[data-room]");
  const room = list && rooms.get(list.dataset.room);
  if (!room || item.classList.contains("pending")) return null;
  const seq = Number(item.dataset.seq);
  return { item, room, seq, m: room.state.get(seq) };
}

/** React with `emoji` to message `at`, or take the reaction back when it is already ours. */
function toggleReaction(at, emoji) {
  const ours = at.m.reactions.some((r) => r.emoji === emoji && r.nicks.some(isMe));
  const change = { type: "react", target: at.seq, emoji };
  if (ours) change.remove = true;
  submitChange(at.room.name, change);
}

/** Close the reaction picker and the delete question (say whether one was open). */
export function closePopups() {
  const open = document.querySelectorAll(".msg .picker, .msg .confirm");
  for (const popup of open) popup.remove();
  return open.length > 0;
}

function showPicker(at) {
  const old = at.item.querySelector(".picker");
  closePopups();
  if (old) return; // a second click closes it
  const picker = el("div", "picker");
  picker.setAttribute("role", "group");
  picker.setAttribute("aria-label", "Pick a reaction");
  for (const emoji of PICKER) {
    const button = el("button", "pick", emoji);
    button.type = "button";
    button.dataset.emoji = emoji;
    button.setAttribute("aria-label", `React with ${emoji}`);
    picker.append(button);
  }
  at.item.append(picker);
  picker.querySelector("button").focus();
  picker.scrollIntoView({ block: "nearest" });
}

function askDelete(at) {
  closePopups();
  const box = el("div", "confirm");
  box.setAttribute("role", "group");
  const whose = isMe(at.m.nick) ? "this message" : `${clean(at.m.nick)}'s message`;
  const yes = el("button", "danger", "Delete");
  yes.type = "button";
  yes.dataset.confirm = "delete";
  const no = el("button", "link", "Cancel");
  no.type = "button";
  no.dataset.confirm = "cancel";
  box.append(el("span", "", `Delete ${whose}? `), yes, " ", no);
  at.item.append(box);
  no.focus();
  box.scrollIntoView({ block: "nearest" });
}

function startReply(at) {
  replyTo = { room: at.room.name, seq: at.seq };
  $("reply-text").textContent = quoteText(at.m).replace(/^↳ /, "Replying to ");
  $("reply-bar").hidden = false;
  $("input").focus();
}

/** The message the next send answers (and the reply mode ends), or null. */
export function takeReply() {
  const seq = replyTo && replyTo.room === current ? replyTo.seq : null;
  cancelReply();
  return seq;
}

export function cancelReply() {
  replyTo = null;
  $("reply-bar").hidden = true;
}

export function replying() {
  return replyTo !== null;
}

const ACTIONS = {
  reply: startReply,
  react: showPicker,
  edit: startEdit,
  delete: (at) => canDelete(at.m) && askDelete(at),
  thread: (at) => openThread(at.seq),
  quote: (at) => at.m && at.m.reply_to != null && reveal(at.room.name, at.m.reply_to),
};

function clicked(event) {
  const at = located(event.target);
  if (!at || !at.m) {
    showActions(null); // a tap beside the messages hides the actions
    return;
  }
  const button = event.target.closest("button");
  if (!button) {
    if (matchMedia("(hover: none)").matches) showActions(at.item); // a tap on touch
    return;
  }
  if (button.dataset.action) ACTIONS[button.dataset.action](at);
  else if (button.dataset.emoji) {
    toggleReaction(at, button.dataset.emoji);
    closePopups();
  } else if (button.dataset.confirm) {
    if (button.dataset.confirm === "delete") submitChange(at.room.name, { type: "delete", target: at.seq });
    closePopups();
  }
}

/** On touch (no hover): show the actions of `item` (a tap or a long press), hide the others'. */
function showActions(item) {
  for (const other of document.querySelectorAll(".msg.active")) {
    if (other !== item) other.classList.remove("active");
  }
  if (!item) return;
  item.classList.add("active");
  item.scrollIntoView({ block: "nearest" }); // its actions, under it, in sight
}

/** Wire the actions on the log and the thread panel (one listener each, for every message). */
export function wireActions() {
  for (const list of [$("log"), $("thread-list")]) {
    list.addEventListener("click", clicked);
    list.addEventListener("contextmenu", (event) => {
      const item = event.target.closest(".msg:not(.pending)");
      if (item && matchMedia("(hover: none)").matches) {
        event.preventDefault(); // a long press on touch: the actions, not the browser's menu
        showActions(item);
      }
    });
    list.addEventListener("pointerdown", (event) => {
      const item = event.target.closest(".msg:not(.pending)");
      clearTimeout(pressTimer);
      if (item && event.pointerType === "touch") {
        pressTimer = setTimeout(() => showActions(item), LONG_PRESS_MS);
      }
    });
    for (const end of ["pointerup", "pointercancel", "pointermove"]) {
      list.addEventListener(end, () => clearTimeout(pressTimer), { passive: true });
    }
  }
  $("reply-cancel").addEventListener("click", () => {
    cancelReply();
    $("input").focus();
  });
}
