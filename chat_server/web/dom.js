// What the page may put on screen: elements holding text (never markup), cleaned of control characters.
//
// Nothing from the network is ever parsed as HTML: the page's CSP enforces Trusted Types, so handing
// a string of markup to the DOM would throw.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The cleaning of docs/protocol.md section 6, as the server does it (the text whose length it
 * counts): no terminal escapes, no control characters but newlines and tabs. */
export function stripControls(text) {
  return String(text)
    .replace(/\r\n/g, "\n")
    .replace(/\x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\|$)/g, "")
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "")
    .replace(/\x1b[\s\S]?/g, "")
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "");
}

// At most this many combining marks after one base character: "Zalgo" text stays in its line
// (chat-tui's render.py keeps as many).
const MAX_MARKS = 2;
const MARKS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{3,}/g;
// Invisible characters that could mislead a reader, as chat-tui lists them: bidi marks, embeddings,
// overrides and isolates (an override turns the text after it around), zero-width characters,
// other format characters, line and paragraph separators. A zero-width joiner between two emoji
// (a family, a rainbow flag) and the tags of a subdivision flag stay: the browser draws them.
const EMOJI = "[\\u2600-\\u27bf\\u{1f000}-\\u{1faff}]";
const KEPT = `(?<=${EMOJI}[\\ufe0f\\u{1f3fb}-\\u{1f3ff}]?)\\u200d(?=${EMOJI})|(?<=\\u{1f3f4}[\\u{e0020}-\\u{e007e}]*)[\\u{e0020}-\\u{e007f}]`;
const INVISIBLE = new RegExp(
  `(${KEPT})|[\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2\\u180e\\u200b-\\u200f` +
    "\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb\\u{110bd}\\u{110cd}" +
    "\\u{13430}-\\u{13438}\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0001}\\u{e0020}-\\u{e007f}]",
  "gu",
);

function shown(char, kept) {
  if (kept !== undefined) return kept;
  return `<U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`;
}

/** The display cleaning: docs/protocol.md section 6 (the server cleans too: belt and braces),
 * combining marks capped, and the invisible characters shown as `<U+202E>`, as chat-tui shows
 * them, so that none of them can turn text around or hide it. */
export function clean(text) {
  return stripControls(text)
    .replace(MARKS, (marks) => marks.slice(0, MAX_MARKS))
    .replace(INVISIBLE, shown);
}

export function timeEl(ts) {
  const time = el("time", "ts");
  time.dateTime = ts;
  const date = new Date(ts);
  const clock = { hour: "2-digit", minute: "2-digit" };
  time.textContent =
    date.toDateString() === new Date().toDateString()
      ? date.toLocaleTimeString([], clock)
      : date.toLocaleString([], { month: "short", day: "numeric", ...clock });
  time.title = date.toLocaleString();
  return time;
}

export function setStatus(text) {
  $("status").textContent = text;
}

export function notice(text) {
  $("notice").textContent = text;
  setTimeout(() => $("notice").textContent === text && ($("notice").textContent = ""), 8000);
}
