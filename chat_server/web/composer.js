// The composers (the room's, the thread panel's) and the page's keys: Enter sends, Up in an empty
// composer edits your last message, Escape closes what is open (the phone's drawer or people
// sheet, a picker, the reply, the thread, the room settings, the search), Ctrl+K or / searches.

import { cancelReply, closePopups, replying, takeReply } from "./actions.js";
import { blockCommand } from "./blocks.js";
import { editLast } from "./edit.js";
import { $ } from "./dom.js";
import { closeOverlays, isPhone, openDrawer } from "./layout.js";
import { countLength, fits, watchLength } from "./length.js";
import { sendMessage } from "./outbox.js";
import { typed } from "./people.js";
import { closeSearch } from "./search.js";
import { closeSettings, settingsOpen } from "./settings.js";
import { closeThread, sendInThread, threadOpen } from "./thread.js";

function enterSends(input, form) {
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

function wireKeys() {
  document.addEventListener("keydown", (event) => {
    if ($("chat-screen").hidden || event.isComposing) return;
    const target = event.target;
    const typing =
      target instanceof HTMLInputElement ||
      target instanceof HTMLTextAreaElement ||
      (target instanceof HTMLElement && target.isContentEditable);
    const ctrlK = (event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k";
    if (ctrlK || (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey)) {
      event.preventDefault();
      if (isPhone()) openDrawer(); // the search field is in the drawer
      $("search-q").focus();
      $("search-q").select();
    } else if (event.key === "Escape") {
      // one thing at a time, the nearest first (an edit's own box handles its Escape)
      if (closeOverlays() || closePopups()) {
        $("input").focus();
      } else if (replying() && target === $("input")) {
        cancelReply();
      } else if (threadOpen()) {
        closeThread();
      } else if (settingsOpen()) {
        closeSettings();
      } else if (!$("search-panel").hidden) {
        closeSearch();
      } else {
        return;
      }
      event.preventDefault();
    }
  });
}

export function wireComposer() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = $("input").value;
    if (!body.trim() || !fits(body)) return;
    $("input").value = "";
    countLength($("input"));
    if (!blockCommand(body)) sendMessage(body, takeReply());
  });
  enterSends($("input"), $("composer"));
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "ArrowUp" && $("input").value === "" && !event.shiftKey && editLast()) {
      event.preventDefault();
    }
  });
  $("input").addEventListener("input", () => typed($("input").value));
  watchLength($("input"));
  watchLength($("thread-input"));
  $("thread-composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = $("thread-input").value;
    if (!body.trim() || !fits(body)) return;
    $("thread-input").value = "";
    countLength($("thread-input"));
    sendInThread(body);
  });
  enterSends($("thread-input"), $("thread-composer"));
  $("thread-close").addEventListener("click", closeThread);
  wireKeys();
}
