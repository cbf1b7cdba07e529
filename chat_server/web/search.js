// Search your rooms: the results panel (room, time, nick and body as text), a click jumps there.

import { isConnected, request } from "./connection.js";
import { $, clean, el, notice, timeEl } from "./dom.js";
import { reveal } from "./messages.js";
import { selectRoom } from "./nav.js";
import { current, roomLabel, rooms } from "./rooms.js";

const SEARCH_LIMIT = 50;

let searchRef = null; // the ref of the latest search: older answers are ignored

function setSearchStatus(text) {
  $("search-status").textContent = text;
}

export function search(q) {
  $("search-panel").hidden = false;
  $("search-results").replaceChildren();
  if (!isConnected()) {
    searchRef = null;
    setSearchStatus("Not connected: search again once reconnected.");
    return;
  }
  setSearchStatus("Searching…");
  searchRef = request({ type: "search", q, limit: SEARCH_LIMIT }, "search");
}

export function searchResults(frame) {
  if (!frame.ref || frame.ref !== searchRef) return; // an answer to an older search
  searchRef = null;
  const messages = Array.isArray(frame.messages) ? frame.messages : [];
  const count = messages.length;
  if (count === 0) setSearchStatus("No results.");
  else if (count >= SEARCH_LIMIT) setSearchStatus(`The newest ${count} results:`);
  else setSearchStatus(count === 1 ? "1 result:" : `${count} results:`);
  $("search-results").replaceChildren(...messages.map(resultEl));
}

/** An error frame answering the latest search is shown in the panel. */
export function searchFailed(frame) {
  if (frame.ref === searchRef) setSearchStatus(`Search failed: ${clean(frame.message)}`);
}

/** The connection is gone: a search on its way will not be answered. */
export function searchDisconnected() {
  if (searchRef !== null) {
    searchRef = null;
    setSearchStatus("Disconnected: search again once reconnected.");
  }
}

function resultEl(m) {
  const item = el("li");
  const button = el("button", "result");
  button.type = "button";
  button.dataset.room = m.room;
  button.dataset.seq = String(m.seq);
  const head = el("span", "meta");
  head.append(el("span", "room", roomLabel(m.room)), " ", timeEl(m.ts), " ");
  head.append(el("span", "nick", clean(m.nick)));
  button.append(head, el("span", "body", clean(m.body)));
  button.addEventListener("click", () => jumpTo(m.room, m.seq));
  item.append(button);
  return item;
}

export function closeSearch() {
  const inside = $("search-panel").contains(document.activeElement);
  $("search-panel").hidden = true;
  if (inside) $("search-q").focus(); // back to where the search started
}

/** Show message `seq` of `name`: switch rooms, load older pages until it is there, highlight it. */
function jumpTo(name, seq) {
  if (!rooms.has(name)) {
    notice(`You are no longer in ${roomLabel(name)}.`);
    return;
  }
  $("search-panel").hidden = true;
  if (current !== name) selectRoom(name);
  reveal(name, seq);
}
