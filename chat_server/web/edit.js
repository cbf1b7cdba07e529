// Editing a message in place: a text box with its text, Enter saves, Escape cancels; Up in an
// empty composer edits your last message. The edit shows when its entry comes back.

import { closePopups, located } from "./actions.js";
import { $, el, notice } from "./dom.js";
import { fits } from "./length.js";
import { itemEl } from "./log.js";
import { submitChange } from "./outbox.js";
import { current, rooms } from "./rooms.js";
import { canEdit } from "./view.js";

/** Edit message `at` in place: a text box with its text; Enter saves, Escape cancels. */
export function startEdit(at) {
  if (!at.m || !canEdit(at.m)) return;
  for (const other of document.querySelectorAll(".msg.editing")) finishEdit(other);
  closePopups();
  const body = at.item.querySelector(".body");
  const box = el("textarea", "edit-box");
  box.value = at.m.body;
  box.rows = Math.min(8, at.m.body.split("\n").length);
  box.setAttribute("aria-label", "Edit your message (Enter saves, Escape cancels)");
  at.item.classList.add("editing");
  body.replaceWith(box, el("div", "edit-hint", "Enter saves · Escape cancels"));
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  box.addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      finishEdit(at.item, true);
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      const text = box.value;
      if (!text.trim()) {
        notice("A message cannot be empty: delete it instead.");
        return;
      }
      if (!fits(text, "saved")) return; // the box keeps the text, to be shortened
      const now = at.room.state.get(at.seq);
      if (now && !now.deleted && text !== now.body) {
        submitChange(at.room.name, { type: "edit", target: at.seq, body: text });
      }
      finishEdit(at.item, true);
    }
  });
}

/** Leave the edit of `item`: the message as it is now (a change that came meanwhile shows). */
function finishEdit(item, refocus = false) {
  const at = located(item);
  if (!at) return;
  const fresh = itemEl(at.room, at.m);
  item.replaceWith(fresh);
  if (refocus) $("input").focus();
}

/** Up-arrow in the empty composer: edit your last message in the room on screen. */
export function editLast() {
  const room = rooms.get(current);
  if (!room) return false;
  const mine = room.list.querySelectorAll(".msg.mine:not(.pending):not(.deleted)");
  for (let i = mine.length - 1; i >= 0; i -= 1) {
    const at = located(mine[i]);
    if (at && at.m && canEdit(at.m)) {
      at.item.scrollIntoView({ block: "nearest" });
      startEdit(at);
      return true;
    }
  }
  return false;
}

