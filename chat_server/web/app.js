// The browser client of chat-server: protocol v1 over /ws, every untrusted text set with textContent.
//
// Same delivery rules as the Python ChatClient (docs/protocol.md section 4): per room, `last` is the
// highest seq applied with no hole before it; duplicates are dropped, a gap is buffered and filled
// with `history after`, a reconnect re-joins with `since`, and unacked sends are re-sent with the
// same `id`. Nothing from the network is ever parsed as HTML (the page's CSP enforces Trusted
// Types, so handing a string of markup to the DOM would throw).

const TOKEN_KEY = "chat.token";
const ROOM_KEY = "chat.room";
const OUTBOX_KEY = "chat.outbox"; // in sessionStorage: this tab's unacked sends survive a reload
const TYPING_EVERY_MS = 3000; // the server relays at most one typing per 3 s per room
const TYPING_SHOWN_MS = 5000;
const PAGE = 100; // messages per `history before` page
const JUMP_PAGE_MAX = 500; // a jump to an old search hit loads up to this many per page
const SEARCH_LIMIT = 50;
const HIT_SHOWN_MS = 2500; // how long a message a search jumped to stays highlighted
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The display cleaning of docs/protocol.md section 6 (the server cleans too: belt and braces). */
function clean(text) {
  return String(text)
    .replace(/\r\n/g, "\n")
    .replace(/\x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\|$)/g, "")
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "")
    .replace(/\x1b[\s\S]?/g, "")
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "");
}

// An idempotency key that sorts by time (microseconds, 13 hex digits, as chat-tui's), then
// 64 random bits: the server stores time-ordered keys at the end of its key index.
function newId() {
  const bytes = new Uint8Array(8); // crypto.randomUUID needs a secure context; this does not
  crypto.getRandomValues(bytes);
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return (Date.now() * 1000).toString(16).padStart(13, "0") + random;
}

function dmRoom(a, b) {
  return "dm:" + [a.toLowerCase(), b.toLowerCase()].sort().join(":");
}

const state = {
  ws: null,
  nick: null,
  token: null,
  password: null, // only until the first welcome
  remember: false,
  connected: false,
  authFailed: false,
  loggingOut: false,
  attempt: 0,
  timer: null,
  rooms: new Map(), // name -> Room
  current: null,
  requests: new Map(), // ref -> {kind, room}
  outbox: new Map(), // id -> {frame, room}; kept until the ack, re-sent after a reconnect
  restoring: null, // the nick whose saved outbox is shown and re-sent after the first welcome
  pendingEls: new Map(), // id -> <li> shown as pending/sent until its message arrives
  refCount: 0,
  lastTyping: 0,
  readTimer: null,
  searchRef: null, // the ref of the latest search: older answers are ignored
  jump: null, // {room, seq}: a search hit to show once its page is loaded
};

// --- rooms ---------------------------------------------------------------------------------

function newRoom(name) {
  const dm = name.startsWith("dm:");
  const room = {
    name,
    dm,
    peer: null, // for a dm: the other nick (display case once known)
    last: null, // highest contiguous seq applied; null until the first join's history
    lastSeq: 0,
    readSeq: 0,
    unread: 0,
    oldest: null,
    more: false, // older pages exist
    loadingOlder: false,
    gapFilling: false,
    buffer: new Map(), // seq -> message, waiting for its predecessors
    members: [],
    online: new Set(),
    joined: false,
    joining: false, // a join is on its way
    typing: new Map(), // nick -> expiry time
    scroll: null, // saved scrollTop while another room is shown (null: stick to the bottom)
    list: el("ol", "messages"),
    item: el("li"),
    button: el("button", "room"),
  };
  if (dm) {
    const pair = name.slice(3).split(":");
    room.peer = pair[0] === state.nick.toLowerCase() ? pair[1] : pair[0];
  }
  room.button.type = "button";
  room.button.dataset.room = name;
  room.button.addEventListener("click", () => selectRoom(name));
  room.item.append(room.button);
  room.list.dataset.room = name;
  state.rooms.set(name, room);
  (dm ? $("dm-list") : $("room-list")).append(room.item);
  sortRoomList(dm ? $("dm-list") : $("room-list"));
  renderRoomButton(room);
  return room;
}

function roomOf(name) {
  return state.rooms.get(name) || newRoom(name);
}

function label(room) {
  return room.dm ? "@" + room.peer : "#" + room.name;
}

function sortRoomList(list) {
  const items = Array.from(list.children);
  items.sort((a, b) => a.firstChild.dataset.room.localeCompare(b.firstChild.dataset.room));
  list.append(...items);
}

function renderRoomButton(room) {
  const button = room.button;
  const name = el("span", "name", label(room));
  const parts = [name];
  if (room.unread > 0 && room.name !== state.current) {
    const badge = el("span", "badge", String(room.unread));
    badge.setAttribute("aria-label", `${room.unread} unread`);
    parts.push(badge);
  }
  button.replaceChildren(...parts);
  if (room.name === state.current) button.setAttribute("aria-current", "page");
  else button.removeAttribute("aria-current");
  let total = 0;
  for (const other of state.rooms.values()) if (other.name !== state.current) total += other.unread;
  document.title = total > 0 ? `(${total}) chat` : "chat"; // seen from another tab
}

function removeRoom(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  room.item.remove();
  state.rooms.delete(name);
  if (state.current === name) {
    state.current = null;
    const next = state.rooms.keys().next();
    if (!next.done) selectRoom(next.value);
    else showRoom(null);
  }
}

function selectRoom(name) {
  state.jump = null; // a search hit still loading elsewhere is no longer wanted
  flushRead(); // what was on screen in the room we leave has been seen
  const previous = state.rooms.get(state.current);
  if (previous && previous.name !== name) previous.scroll = atBottom() ? null : $("log").scrollTop;
  state.current = name;
  localStorage.setItem(ROOM_KEY, name);
  for (const room of state.rooms.values()) renderRoomButton(room);
  showRoom(state.rooms.get(name) || null);
  $("input").focus();
}

function showRoom(room) {
  const log = $("log");
  if (!room) {
    $("room-title").textContent = "No room";
    log.replaceChildren($("log-top"));
    $("member-list").replaceChildren();
    $("typing").textContent = "";
    return;
  }
  $("room-title").textContent = label(room);
  $("input-label").textContent = `Message ${label(room)}`;
  $("input").placeholder = `Message ${label(room)}`;
  $("leave").hidden = room.dm;
  $("leave").setAttribute("aria-label", `Leave ${label(room)}`);
  log.replaceChildren($("log-top"), room.list);
  renderLogTop(room);
  renderMembers(room);
  renderTyping(room);
  if (room.scroll === null) scrollToBottom();
  else log.scrollTop = room.scroll;
  room.unread = 0;
  renderRoomButton(room);
  scheduleRead();
  maybeLoadOlder();
}

function renderLogTop(room) {
  let text = "";
  if (room.loadingOlder) text = "Loading older messages…";
  else if (room.last !== null && !room.more) text = `This is the start of ${label(room)}.`;
  $("log-top").textContent = text;
}

// --- messages ------------------------------------------------------------------------------

function timeEl(ts) {
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

function messageEl(m) {
  const item = el("li", "msg");
  item.dataset.seq = String(m.seq);
  item.dataset.id = m.id;
  const head = el("div", "meta");
  const nick = el("span", "nick", clean(m.nick));
  head.append(nick, " ", timeEl(m.ts));
  item.append(head, el("div", "body", clean(m.body)));
  if (m.nick.toLowerCase() === state.nick.toLowerCase()) item.classList.add("mine");
  return item;
}

function atBottom() {
  const log = $("log");
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToBottom() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

/** Put a message with seq `last + 1` on screen (before any pending sends of ours). */
function append(room, m, live) {
  const shown = room.name === state.current;
  const stick = shown && atBottom();
  const mine = m.nick.toLowerCase() === state.nick.toLowerCase();
  const pending = state.pendingEls.get(m.id);
  if (mine && pending) {
    pending.remove();
    state.pendingEls.delete(m.id);
  }
  room.list.insertBefore(messageEl(m), room.list.querySelector(".pending"));
  if (room.oldest === null) room.oldest = m.seq;
  room.lastSeq = Math.max(room.lastSeq, m.seq);
  room.typing.delete(m.nick);
  if (live && !mine) {
    if (shown && document.visibilityState === "visible") {
      $("announce").textContent = `${clean(m.nick)}: ${clean(m.body)}`;
    } else {
      room.unread += 1;
      renderRoomButton(room);
    }
  }
  if (mine) room.readSeq = Math.max(room.readSeq, m.seq); // sending moves our own marker
  if (stick) scrollToBottom();
  if (shown) {
    renderTyping(room);
    scheduleRead();
  }
}

/** The ordering rule for every message, live or from a history page. */
function accept(room, m, live) {
  if (room.last === null || m.seq > room.last + 1) {
    room.buffer.set(m.seq, m);
    if (room.last !== null) fillGap(room);
    return;
  }
  if (m.seq <= room.last) return; // a duplicate
  append(room, m, live);
  room.last = m.seq;
  drain(room, live);
}

function drain(room, live) {
  for (;;) {
    const next = room.buffer.get(room.last + 1);
    if (!next) break;
    room.buffer.delete(next.seq);
    append(room, next, live);
    room.last = next.seq;
  }
  for (const seq of room.buffer.keys()) if (seq <= room.last) room.buffer.delete(seq);
  if (room.buffer.size > 0) fillGap(room);
}

function fillGap(room) {
  if (room.gapFilling || !state.connected || room.last === null) return;
  room.gapFilling = true;
  request({ type: "history", room: room.name, after: room.last, limit: 500 }, "after", room);
}

function maybeLoadOlder() {
  const room = state.rooms.get(state.current);
  const log = $("log");
  if (!room || !room.more || room.loadingOlder || !state.connected || room.oldest === null) return;
  if (log.scrollTop > 200 && log.scrollHeight > log.clientHeight) return;
  room.loadingOlder = true;
  renderLogTop(room);
  request({ type: "history", room: room.name, before: room.oldest, limit: PAGE }, "older", room);
}

function prependOlder(room, frame) {
  room.loadingOlder = false;
  room.more = frame.more;
  const older = frame.messages.filter((m) => room.oldest === null || m.seq < room.oldest);
  if (older.length > 0) {
    const log = $("log");
    const fromBottom = log.scrollHeight - log.scrollTop;
    const nodes = older.map(messageEl);
    room.list.prepend(...nodes);
    room.oldest = older[0].seq;
    if (room.name === state.current) log.scrollTop = log.scrollHeight - fromBottom;
  }
  if (room.name === state.current) {
    renderLogTop(room);
    tryJump();
    requestAnimationFrame(maybeLoadOlder);
  }
}

// --- sending -------------------------------------------------------------------------------

function sendMessage(body) {
  const room = state.rooms.get(state.current);
  if (!room) return;
  const id = newId();
  const frame = { type: "send", body, id, ref: id };
  if (room.dm) frame.to = room.peer;
  else frame.room = room.name;
  state.outbox.set(id, { frame, room: room.name });
  saveOutbox();
  showPending(room, frame);
  scrollToBottom();
  if (state.connected) transmit(frame);
}

function showPending(room, frame) {
  const now = new Date().toISOString();
  const item = messageEl({ seq: 0, id: frame.id, nick: state.nick, body: frame.body, ts: now });
  item.classList.add("pending");
  item.dataset.state = "pending";
  item.querySelector(".meta").append(" ", el("span", "state", "sending…"));
  room.list.append(item);
  state.pendingEls.set(frame.id, item);
}

function saveOutbox() {
  const entries = Array.from(state.outbox.values());
  if (entries.length === 0) sessionStorage.removeItem(OUTBOX_KEY);
  else sessionStorage.setItem(OUTBOX_KEY, JSON.stringify({ nick: state.nick, entries }));
}

function loadOutbox() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || "null");
    if (!saved || !Array.isArray(saved.entries)) return;
    for (const entry of saved.entries) state.outbox.set(entry.frame.id, entry);
    state.restoring = String(saved.nick);
  } catch {
    sessionStorage.removeItem(OUTBOX_KEY);
  }
}

function onMessage(frame) {
  if (!state.rooms.has(frame.room) && !frame.room.startsWith("dm:")) return; // a room we just left
  const room = roomOf(frame.room);
  if (room.last === null && !room.joined && !room.joining) {
    join(room); // a direct conversation someone just opened with us: its history brings this one
    if (frame.nick.toLowerCase() !== state.nick.toLowerCase()) room.unread += 1;
    renderRoomButton(room);
  }
  accept(room, frame, true);
}

function onAck(frame) {
  state.outbox.delete(frame.id);
  saveOutbox();
  const item = state.pendingEls.get(frame.id);
  const room = roomOf(frame.room);
  if (!room.joined && !room.joining) join(room); // a first direct message created the room
  if (!item) return;
  if (room.last !== null && frame.seq <= room.last) {
    item.remove(); // its message is already on screen (a re-sent id answers the original ack)
    state.pendingEls.delete(frame.id);
    return;
  }
  item.dataset.state = "sent";
  item.querySelector(".state").textContent = "sent";
}

function failSend(id, error) {
  state.outbox.delete(id);
  saveOutbox();
  const item = state.pendingEls.get(id);
  if (!item) return;
  state.pendingEls.delete(id);
  item.classList.remove("pending");
  item.classList.add("failed");
  item.dataset.state = "failed";
  item.querySelector(".state").textContent = `not sent: ${clean(error.message)}`;
}

// --- the connection ------------------------------------------------------------------------

function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

function transmit(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function request(frame, kind, room) {
  const ref = `${kind}-${++state.refCount}`;
  state.requests.set(ref, { kind, room: room ? room.name : null });
  transmit({ ...frame, ref });
  return ref;
}

function connect() {
  clearTimeout(state.timer);
  state.timer = null;
  const ws = new WebSocket(wsUrl());
  state.ws = ws;
  ws.addEventListener("open", () => {
    const hello = { type: "hello", client: "chat-web/1" };
    if (state.password !== null) Object.assign(hello, { nick: state.nick, password: state.password });
    else hello.token = state.token;
    request(hello, "hello");
  });
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === "string") handle(frame);
  });
  ws.addEventListener("close", (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    closed(event.code);
  });
}

function closed(code) {
  state.connected = false;
  state.requests.clear();
  if (state.searchRef !== null) {
    state.searchRef = null;
    setSearchStatus("Disconnected: search again once reconnected.");
  }
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.joining = false;
    room.loadingOlder = false;
    room.gapFilling = false;
    room.typing.clear();
  }
  if (state.loggingOut) return;
  if (state.authFailed || state.nick === null) return; // showLogin already explains why
  if (code === 1008 && state.password === null) {
    forget();
    showLogin("Your session has ended; log in again.");
    return;
  }
  if (state.password !== null && state.token === null) {
    showLogin("Cannot reach the server.");
    return;
  }
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
  const wait = delay / 2 + Math.random() * (delay / 2); // jitter: a restart is not a stampede
  state.attempt += 1;
  setStatus(`Disconnected. Reconnecting in ${Math.ceil(wait / 1000)} s…`);
  state.timer = setTimeout(connect, wait);
}

function handle(frame) {
  const pending = frame.ref ? state.requests.get(frame.ref) : undefined;
  if (pending && frame.type !== "joined") state.requests.delete(frame.ref);
  switch (frame.type) {
    case "welcome":
      return welcome(frame);
    case "joined":
      return joined(frame);
    case "history":
      return history(frame, pending);
    case "message":
      return onMessage(frame);
    case "ack":
      return onAck(frame);
    case "presence":
      return presence(frame);
    case "typing":
      return typing(frame);
    case "read":
      return readMoved(frame);
    case "left":
      return removeRoom(frame.room);
    case "results":
      return searchResults(frame);
    case "error":
      return failed(frame, pending);
    default:
      return undefined; // forward compatible: unknown frames are ignored
  }
}

function welcome(frame) {
  const first = state.token === null;
  state.connected = true;
  state.attempt = 0;
  state.nick = frame.nick;
  state.token = frame.token;
  state.password = null;
  if (first) {
    (state.remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, frame.token);
    (state.remember ? sessionStorage : localStorage).removeItem(TOKEN_KEY);
    showChat();
  }
  setStatus("");
  $("me-nick").textContent = frame.nick;
  for (const info of frame.rooms) {
    const room = roomOf(info.room);
    room.lastSeq = info.last_seq;
    room.readSeq = info.read_seq;
    room.unread = info.room === state.current ? 0 : info.unread;
    renderRoomButton(room);
  }
  for (const room of state.rooms.values()) if (!room.dm || room.last !== null) join(room);
  for (const info of frame.rooms) if (roomOf(info.room).dm) join(roomOf(info.room));
  if (state.rooms.size === 0) join(roomOf("general")); // a new account starts somewhere
  if (!state.current || !state.rooms.has(state.current)) {
    const saved = localStorage.getItem(ROOM_KEY);
    const names = Array.from(state.rooms.keys());
    const fallback = names.find((name) => !name.startsWith("dm:")) || names[0];
    selectRoom(saved && state.rooms.has(saved) ? saved : fallback);
  }
  if (state.restoring !== null) {
    // sends that were waiting for their ack when this tab reloaded: same ids, so never twice
    if (state.restoring.toLowerCase() === frame.nick.toLowerCase()) {
      for (const entry of state.outbox.values()) showPending(roomOf(entry.room), entry.frame);
    } else {
      state.outbox.clear();
      saveOutbox();
    }
    state.restoring = null;
  }
  for (const { frame: send } of state.outbox.values()) transmit(send);
}

function join(room) {
  if (room.joining || room.joined) return;
  room.joining = true;
  const frame = { type: "join", room: room.name };
  if (room.last !== null) frame.since = room.last;
  request(frame, "join", room);
}

function joined(frame) {
  const room = roomOf(frame.room);
  room.joined = true;
  room.joining = false;
  room.lastSeq = frame.last_seq;
  room.members = frame.members.slice();
  room.online = new Set(frame.online);
  if (room.dm) {
    const other = frame.members.find((n) => n.toLowerCase() !== state.nick.toLowerCase());
    if (other) room.peer = other;
    renderRoomButton(room);
    if (room.name === state.current) $("room-title").textContent = label(room);
  }
  if (room.name === state.current) renderMembers(room);
}

function history(frame, pending) {
  const room = roomOf(frame.room);
  const kind = pending ? pending.kind : "after";
  if (kind === "older") return prependOlder(room, frame);
  if (kind === "join" && room.last === null) {
    // the first page of this room: the newest messages, `more` says whether older ones exist
    room.last = frame.messages.length ? frame.messages[0].seq - 1 : room.lastSeq;
    room.more = frame.more;
    for (const m of frame.messages) accept(room, m, false);
    room.oldest = frame.messages.length ? frame.messages[0].seq : null;
    drain(room, false);
  } else {
    room.gapFilling = false;
    for (const m of frame.messages) accept(room, m, false);
    if (frame.more) fillGap(room);
    else drain(room, false);
  }
  if (room.name === state.current) {
    renderLogTop(room);
    scheduleRead();
    tryJump();
    requestAnimationFrame(maybeLoadOlder);
  }
  return undefined;
}

function failed(frame, pending) {
  if (frame.code === "auth_failed") {
    state.authFailed = true;
    const withPassword = state.password !== null;
    forget();
    showLogin(withPassword ? "Wrong nick or password." : "Your session has expired; log in again.");
    return;
  }
  if (frame.ref && state.outbox.has(frame.ref)) {
    if (frame.code === "rate_limited" || frame.code === "internal") {
      const entry = state.outbox.get(frame.ref);
      setTimeout(() => state.connected && transmit(entry.frame), 2000); // same id: idempotent
    } else {
      failSend(frame.ref, frame);
    }
    return;
  }
  if (pending && pending.kind === "search") {
    if (frame.ref === state.searchRef) setSearchStatus(`Search failed: ${clean(frame.message)}`);
    return;
  }
  if (pending && pending.kind === "hello") {
    showLogin(clean(frame.message));
    return;
  }
  if (pending && pending.kind === "join") {
    const room = state.rooms.get(pending.room);
    if (room && room.last === null) removeRoom(pending.room);
    else if (room) room.joining = false;
  }
  if (pending && pending.room) {
    const room = state.rooms.get(pending.room);
    if (room) Object.assign(room, { loadingOlder: false, gapFilling: false });
  }
  notice(clean(frame.message));
}

// --- people, typing, read markers ------------------------------------------------------------

function presence(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return;
  const known = room.members.some((n) => n.toLowerCase() === frame.nick.toLowerCase());
  if (frame.status === "online") room.online.add(frame.nick);
  else if (frame.status === "offline") room.online.delete(frame.nick);
  else if (frame.status === "joined" && !known) {
    room.members.push(frame.nick);
    room.members.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  } else if (frame.status === "left") {
    room.members = room.members.filter((n) => n.toLowerCase() !== frame.nick.toLowerCase());
  }
  if (frame.status === "joined") room.online.add(frame.nick);
  if (room.name === state.current) renderMembers(room);
}

function renderMembers(room) {
  const items = room.members.map((nick) => {
    const on = room.online.has(nick) || nick.toLowerCase() === state.nick.toLowerCase();
    const item = el("li", on ? "member online" : "member offline");
    item.dataset.nick = nick;
    item.dataset.status = on ? "online" : "offline";
    item.append(el("span", "dot"), el("span", "nick", clean(nick)), " ");
    item.append(el("span", "presence", on ? "online" : "offline"));
    return item;
  });
  $("member-list").replaceChildren(...items);
}

function typing(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return;
  room.typing.set(frame.nick, Date.now() + TYPING_SHOWN_MS);
  if (room.name === state.current) renderTyping(room);
  setTimeout(() => room.name === state.current && renderTyping(room), TYPING_SHOWN_MS + 50);
}

function renderTyping(room) {
  const now = Date.now();
  for (const [nick, until] of room.typing) if (until <= now) room.typing.delete(nick);
  const nicks = Array.from(room.typing.keys(), clean);
  let text = "";
  if (nicks.length === 1) text = `${nicks[0]} is typing…`;
  else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
  else if (nicks.length > 2) text = "Several people are typing…";
  $("typing").textContent = text;
}

function readMoved(frame) {
  const room = state.rooms.get(frame.room);
  if (!room) return;
  room.readSeq = Math.max(room.readSeq, frame.seq);
  if (room.readSeq >= room.lastSeq) room.unread = 0;
  renderRoomButton(room);
}

function scheduleRead() {
  if (state.readTimer === null) state.readTimer = setTimeout(flushRead, 300);
}

/** Move the read marker of the room on screen to what is shown (batched: one frame per burst). */
function flushRead() {
  clearTimeout(state.readTimer);
  state.readTimer = null;
  const room = state.rooms.get(state.current);
  if (!room || !room.joined || room.last === null || document.visibilityState !== "visible") return;
  room.unread = 0;
  renderRoomButton(room);
  if (room.last > room.readSeq) {
    room.readSeq = room.last;
    transmit({ type: "read", room: room.name, seq: room.last });
  }
}

// --- search ------------------------------------------------------------------------------

function roomLabel(name) {
  const room = state.rooms.get(name);
  if (room) return label(room);
  if (!name.startsWith("dm:")) return "#" + name;
  const pair = name.slice(3).split(":");
  return "@" + (pair[0] === state.nick.toLowerCase() ? pair[1] : pair[0]);
}

function setSearchStatus(text) {
  $("search-status").textContent = text;
}

function search(q) {
  $("search-panel").hidden = false;
  $("search-results").replaceChildren();
  if (!state.connected) {
    state.searchRef = null;
    setSearchStatus("Not connected: search again once reconnected.");
    return;
  }
  setSearchStatus("Searching…");
  state.searchRef = request({ type: "search", q, limit: SEARCH_LIMIT }, "search");
}

function searchResults(frame) {
  if (!frame.ref || frame.ref !== state.searchRef) return; // an answer to an older search
  state.searchRef = null;
  const messages = Array.isArray(frame.messages) ? frame.messages : [];
  const count = messages.length;
  if (count === 0) setSearchStatus("No results.");
  else if (count >= SEARCH_LIMIT) setSearchStatus(`The newest ${count} results:`);
  else setSearchStatus(count === 1 ? "1 result:" : `${count} results:`);
  $("search-results").replaceChildren(...messages.map(resultEl));
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

function closeSearch() {
  const inside = $("search-panel").contains(document.activeElement);
  $("search-panel").hidden = true;
  if (inside) $("search-q").focus(); // back to where the search started
}

/** Show message `seq` of `name`: switch rooms, load older pages until it is there, highlight it. */
function jumpTo(name, seq) {
  const room = state.rooms.get(name);
  if (!room) {
    notice(`You are no longer in ${roomLabel(name)}.`);
    return;
  }
  $("search-panel").hidden = true;
  if (state.current !== name) selectRoom(name);
  state.jump = { room: name, seq };
  tryJump();
}

function tryJump() {
  const jump = state.jump;
  if (!jump) return;
  const room = state.rooms.get(jump.room);
  if (!room || state.current !== jump.room) {
    state.jump = null;
    return;
  }
  const item = room.list.querySelector(`.msg[data-seq="${jump.seq}"]:not(.pending)`);
  if (item) {
    state.jump = null;
    item.scrollIntoView({ block: "center" });
    item.classList.add("hit");
    setTimeout(() => item.classList.remove("hit"), HIT_SHOWN_MS);
    return;
  }
  if (room.last === null || room.oldest === null || jump.seq >= room.oldest) return; // coming
  if (!room.more) {
    state.jump = null;
    notice("That message is no longer there.");
    return;
  }
  if (room.loadingOlder || !state.connected) return; // the page on its way (or the rejoin) retries
  room.loadingOlder = true;
  renderLogTop(room);
  const limit = Math.min(JUMP_PAGE_MAX, Math.max(PAGE, room.oldest - jump.seq + 10));
  request({ type: "history", room: room.name, before: room.oldest, limit }, "older", room);
}

// --- screens -------------------------------------------------------------------------------

function setStatus(text) {
  $("status").textContent = text;
}

function notice(text) {
  $("notice").textContent = text;
  setTimeout(() => $("notice").textContent === text && ($("notice").textContent = ""), 8000);
}

function forget() {
  localStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
}

function showLogin(error) {
  clearTimeout(state.timer);
  state.timer = null;
  if (state.ws) {
    const ws = state.ws;
    state.ws = null; // its close event is now ignored
    ws.close(1000);
  }
  state.password = null;
  $("chat-screen").hidden = true;
  $("login-screen").hidden = false;
  $("login-error").textContent = error || "";
  $("login-submit").disabled = false;
  $("login-password").value = "";
  (state.nick ? $("login-password") : $("login-nick")).focus();
}

function showChat() {
  $("login-screen").hidden = true;
  $("chat-screen").hidden = false;
  $("input").focus();
}

function reset() {
  for (const room of state.rooms.values()) room.item.remove();
  state.rooms.clear();
  state.outbox.clear();
  sessionStorage.removeItem(OUTBOX_KEY);
  state.restoring = null;
  state.pendingEls.clear();
  state.current = null;
  state.jump = null;
  closeSearch();
  $("search-q").value = "";
  state.authFailed = false;
  state.loggingOut = false;
  state.attempt = 0;
}

function login(event) {
  event.preventDefault();
  const nick = $("login-nick").value.trim();
  const password = $("login-password").value;
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(nick)) {
    $("login-error").textContent = "A nick is 1 to 32 letters, digits, _ or -.";
    $("login-nick").focus();
    return;
  }
  if (!password) {
    $("login-error").textContent = "Enter a password.";
    $("login-password").focus();
    return;
  }
  reset();
  Object.assign(state, { nick, password, token: null, remember: $("login-remember").checked });
  $("login-error").textContent = "Logging in…";
  $("login-submit").disabled = true;
  connect();
}

function logout() {
  state.loggingOut = true;
  transmit({ type: "logout" });
  if (state.ws) state.ws.close(1000);
  forget();
  reset();
  state.nick = null;
  showLogin("");
}

function wire() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("leave").addEventListener("click", () => {
    const room = state.rooms.get(state.current);
    if (room && !room.dm) request({ type: "leave", room: room.name }, "leave", room);
  });
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("join-room").value.trim();
    if (!/^[a-z0-9_-]{1,64}$/.test(name)) {
      notice("A room name is 1 to 64 of a-z, 0-9, _ and -.");
      return;
    }
    $("join-room").value = "";
    join(roomOf(name));
    selectRoom(name);
  });
  $("dm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = $("dm-nick").value.trim();
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(nick) || nick.toLowerCase() === state.nick.toLowerCase()) {
      notice("Enter someone else's nick.");
      return;
    }
    $("dm-nick").value = "";
    const room = roomOf(dmRoom(state.nick, nick));
    if (room.last === null) room.peer = nick;
    renderRoomButton(room);
    selectRoom(room.name);
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const body = $("input").value;
    if (!body.trim()) return;
    $("input").value = "";
    sendMessage(body);
  });
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("input").addEventListener("input", () => {
    const room = state.rooms.get(state.current);
    const now = Date.now();
    if (!room || !room.joined || !$("input").value || now - state.lastTyping < TYPING_EVERY_MS) return;
    state.lastTyping = now;
    transmit({ type: "typing", room: room.name });
  });
  $("log").addEventListener("scroll", maybeLoadOlder, { passive: true });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    if (q) search(q);
  });
  $("search-close").addEventListener("click", closeSearch);
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
      $("search-q").focus();
      $("search-q").select();
    } else if (event.key === "Escape" && !$("search-panel").hidden) {
      event.preventDefault();
      closeSearch();
    }
  });
  document.addEventListener("visibilitychange", scheduleRead);
  window.addEventListener("online", () => {
    if (state.timer !== null) connect(); // the network is back: do not wait for the backoff
  });
}

function start() {
  wire();
  const token = localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showLogin("");
    return;
  }
  state.token = token;
  state.remember = localStorage.getItem(TOKEN_KEY) !== null;
  loadOutbox();
  state.nick = "";
  showChat();
  setStatus("Connecting…");
  connect();
}

start();
