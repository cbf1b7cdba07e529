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

/** The display cleaning of docs/protocol.md section 6 (the server cleans too: belt and braces). */
export function clean(text) {
  return String(text)
    .replace(/\r\n/g, "\n")
    .replace(/\x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\|$)/g, "")
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "")
    .replace(/\x1b[\s\S]?/g, "")
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "");
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
