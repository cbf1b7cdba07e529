// The browser client of chat-server (protocol 2 over /ws): the page's controls and the server's
// frames wired to the modules that handle them, then the login.
//
// One job per module: ordering (the pure seq rule), connection (the socket), session (who is
// logged in), login (screens and the session's life), rooms (records, sidebar, read markers), nav
// (the room on screen), messages (the log in order, history pages), changes (messages as they
// are now, pure), view (one message on screen), log (its items, pending sends, redraws), quotes
// (fetching what replies quote), actions (reply, react, edit, delete), thread (the thread
// panel), composer (the composers and keys), outbox (requests never lost nor doubled), people
// (members, typing), blocks (blocking people), roles (who may do what in a room, what a notice
// says: pure), settings (the room settings panel, creating rooms), invites (invitations), search,
// layout (the phone's drawer and sheet), length (the message length limit), notify (desktop
// notifications and the mention tone), dom (text only).

import { wireActions } from "./actions.js";
import { blocked, setBlocked, unblocked } from "./blocks.js";
import { wireComposer } from "./composer.js";
import { connect, isConnected, on, retryNow, whenClosed } from "./connection.js";
import { $, clean, notice, setStatus } from "./dom.js";
import {
  authFailed,
  connectionClosed,
  invitedByLink,
  inviteNeeded,
  login,
  loginLimited,
  logout,
  showChat,
  showLogin,
  welcome,
} from "./login.js";
import { invited, wireInvites } from "./invites.js";
import { closeOverlays, wireLayout } from "./layout.js";
import { fillGap, history, maybeLoadOlder, onMessage } from "./messages.js";
import { joined, leaveCurrent, left, rejoinCurrent, removeRoom, selectRoom } from "./nav.js";
import { wireNotify } from "./notify.js";
import { loadOutbox, onAck, refused } from "./outbox.js";
import { membersPage, moreMembers, presence, typing } from "./people.js";
import { dmRoom, join, readMoved, renderRoomButton, roomOf, rooms, scheduleRead } from "./rooms.js";
import { closeSearch, search, searchFailed, searchResults } from "./search.js";
import { me, savedToken, tokenRemembered } from "./session.js";
import { createdAck, wireSettings } from "./settings.js";
import { threadFailed } from "./thread.js";

const RETRY_MIN_MS = 50;
const RETRY_MAX_S = 5; // a longer retry_after (rooms created an hour) is shown, not waited out

/** A read of a room over the connection's budget (a reconnect re-joins every room at once):
 * ask again when the server says it will answer. */
function askAgainLater(frame, pending) {
  const room = rooms.get(pending.room);
  if (!room) return;
  if (pending.kind === "join") room.joining = false;
  else if (pending.kind === "older") room.loadingOlder = false;
  else if (pending.kind === "members") room.loadingMembers = false;
  else room.gapFilling = false; // "after"
  const wait = Math.max(RETRY_MIN_MS, (frame.retry_after || 1) * 1000);
  setTimeout(() => {
    if (!isConnected() || rooms.get(room.name) !== room) return; // the next welcome re-joins
    if (pending.kind === "join") join(room);
    else if (pending.kind === "older") maybeLoadOlder();
    else if (pending.kind === "members") moreMembers(room);
    else fillGap(room);
  }, wait);
}

/** An error frame, to whatever it answers. */
function failed(frame, pending) {
  if (frame.code === "auth_failed") return authFailed();
  if (frame.code === "rate_limited" && pending && pending.kind === "hello") return loginLimited(frame);
  if (frame.code === "forbidden" && pending && pending.kind === "hello") return inviteNeeded(frame);
  if (refused(frame)) return undefined; // one of our sends, edits, deletes or reactions
  if (pending && pending.kind === "around") return undefined; // the quote stays "↳ …"
  if (pending && pending.kind === "thread") return threadFailed(frame.message);
  const soon = frame.code === "rate_limited" && (frame.retry_after || 0) <= RETRY_MAX_S;
  if (soon && pending && pending.room && pending.kind !== "leave") {
    return askAgainLater(frame, pending);
  }
  if (pending && pending.kind === "search") return searchFailed(frame);
  if (pending && pending.kind === "hello") return showLogin(clean(frame.message));
  if (pending && pending.kind === "join") {
    const room = rooms.get(pending.room);
    // not_found to a resume (a join with since): an administrator removed the room
    if (room && (room.last === null || frame.code === "not_found")) removeRoom(pending.room);
    else if (room) room.joining = false;
  }
  if (pending && pending.room) {
    const room = rooms.get(pending.room);
    const idle = { loadingOlder: false, gapFilling: false, loadingMembers: false };
    if (room) Object.assign(room, idle);
  }
  return notice(clean(frame.message));
}

// Frame type -> handler(frame, pending request); other types are ignored (forward compatible).
const FRAMES = {
  welcome,
  joined,
  history,
  message: onMessage,
  edit: onMessage, // changes to messages are entries of the room's log too
  delete: onMessage,
  react: onMessage,
  notice: onMessage, // a change to the room (topic, kick, ban, role) is an entry too
  ack: (frame) => {
    onAck(frame);
    createdAck(frame);
  },
  invite: invited,
  presence,
  typing,
  read: readMoved,
  left,
  results: searchResults,
  members: membersPage,
  blocked,
  unblocked,
  error: failed,
};

function wireForms() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("leave").addEventListener("click", leaveCurrent);
  $("rejoin").addEventListener("click", rejoinCurrent);
  $("members-more").addEventListener("click", () => moreMembers());
  for (const list of [$("room-list"), $("dm-list")]) {
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button.room");
      if (button) selectRoom(button.dataset.room);
    });
  }
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
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(nick) || nick.toLowerCase() === me.nick.toLowerCase()) {
      notice("Enter someone else's nick.");
      return;
    }
    $("dm-nick").value = "";
    const room = roomOf(dmRoom(me.nick, nick));
    if (room.last === null) room.peer = nick;
    renderRoomButton(room);
    selectRoom(room.name);
  });
  $("log").addEventListener("scroll", maybeLoadOlder, { passive: true });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    if (!q) return;
    closeOverlays(); // on a phone, the results show over the conversation
    search(q);
  });
  $("search-close").addEventListener("click", closeSearch);
  $("member-list").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-block]");
    if (button) setBlocked(button.closest("li").dataset.nick, button.dataset.block === "block");
  });
}

function start() {
  for (const [type, handler] of Object.entries(FRAMES)) on(type, handler);
  whenClosed(connectionClosed);
  wireForms();
  wireComposer();
  wireActions();
  wireSettings();
  wireInvites();
  wireLayout();
  wireNotify();
  document.addEventListener("visibilitychange", scheduleRead);
  window.addEventListener("online", retryNow);
  if (invitedByLink()) return; // a new account, even in a browser logged in as someone
  const token = savedToken();
  if (!token) {
    showLogin("");
    return;
  }
  me.token = token;
  me.remember = tokenRemembered();
  loadOutbox();
  me.nick = "";
  showChat();
  setStatus("Connecting…");
  connect();
}

start();
