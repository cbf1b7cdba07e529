// How long a message may be (the server's welcome.limits.max_body, in code points after the
// display cleaning): a counter beside a composer as the text nears the limit, and a refusal that
// says so instead of a cut. A paste of any length stays whole in the box until it is shortened.

import { $, notice, stripControls } from "./dom.js";

const DEFAULT_MAX = 4000; // the protocol's, until a welcome says otherwise
const SHOWN_FROM = 0.9; // the counter shows from 90 % of the limit

let max = DEFAULT_MAX;

/** The limit a welcome announced (absent or null from an older server: the protocol's). */
export function setMaxBody(limits) {
  const value = limits ? limits.max_body : null;
  max = Number.isInteger(value) && value > 0 ? value : DEFAULT_MAX;
  for (const input of document.querySelectorAll("textarea[data-counter]")) countLength(input);
}

/** The length the server counts: code points of the cleaned text. */
export function lengthOf(text) {
  return Array.from(stripControls(text)).length;
}

/** Show `input`'s count in its counter (data-counter names it) when near or over the limit. */
export function countLength(input) {
  const counter = $(input.dataset.counter);
  const length = lengthOf(input.value);
  const over = length > max;
  counter.hidden = length < SHOWN_FROM * max;
  counter.textContent = `${length}/${max}`;
  counter.classList.toggle("over", over);
  counter.title = over ? `${length - max} characters too long` : `${max - length} characters left`;
  if (over) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** Whether `text` may be sent (or `saved`, an edit); when not, say why (and nothing is sent
 * or cut). */
export function fits(text, done = "sent") {
  const length = lengthOf(text);
  if (length <= max) return true;
  const by = length - max;
  notice(`Not ${done}: ${length} characters, over the limit of ${max}. Shorten it by ${by}.`);
  return false;
}

/** Count as `input` changes (typing, a paste, a send that empties it). */
export function watchLength(input) {
  input.addEventListener("input", () => countLength(input));
}
