// The login screen and the session's life: log in, the welcome, what a closed socket means, log out.

import { cancelReply } from "./actions.js";
import { knownBlocks } from "./blocks.js";
import { clearInvites, knownInvites } from "./invites.js";
import { connect, disconnect, resetBackoff, retryLater, transmit } from "./connection.js";
import { $, clean, setStatus } from "./dom.js";
import { setMaxBody } from "./length.js";
import { clearPending } from "./log.js";
import { cancelReveal } from "./messages.js";
import { firstRoom, selectRoom } from "./nav.js";
import { clearOutbox, resend } from "./outbox.js";
import { renderMembers } from "./people.js";
import {
  clearRooms,
  current,
  join,
  renderRoomButton,
  roomOf,
  rooms,
  roomsDisconnected,
} from "./rooms.js";
import { closeSearch, searchDisconnected } from "./search.js";
import { forget, keepToken, me } from "./session.js";
import { closeSettings } from "./settings.js";
import { closeThread } from "./thread.js";

export function showLogin(error) {
  disconnect();
  me.password = null;
  $("chat-screen").hidden = true;
  $("login-screen").hidden = false;
  $("login-error").textContent = error || "";
  $("login-submit").disabled = false;
  $("login-password").value = "";
  (me.nick ? $("login-password") : $("login-nick")).focus();
}

/** Show the invite-code field (with ``code`` in it, when given). */
function askInvite(code) {
  $("login-invite-label").hidden = false;
  $("login-invite").hidden = false;
  if (code) $("login-invite").value = code;
}

/** A link ``…/#invite=CODE`` opens the signup form with the code filled in; the code then
 * leaves the address bar (not kept in the history, nor in a bookmark). True when it did. */
export function invitedByLink() {
  const match = /^#invite=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (!match) return false;
  history.replaceState(null, "", location.pathname + location.search);
  showLogin("");
  askInvite(match[1]);
  $("login-hint").textContent = "You were invited: pick a nick and a password to create your account.";
  $("login-nick").focus();
  return true;
}

/** The server signs up this new nick only with a valid invite code (``forbidden`` to a
 * hello): ask for one, keeping the password typed, which is the one being chosen. */
export function inviteNeeded(frame) {
  me.authFailed = true; // the close that follows is explained here
  const password = me.password;
  const text = clean(frame.message);
  showLogin(`${text.charAt(0).toUpperCase()}${text.slice(1)}. Enter the invite code you were given.`);
  if (password) $("login-password").value = password;
  askInvite("");
  $("login-invite").focus();
}

export function showChat() {
  $("login-screen").hidden = true;
  $("chat-screen").hidden = false;
  $("input").focus();
}

/** Forget everything of the previous login on this tab. */
function reset() {
  clearRooms();
  clearOutbox();
  clearPending();
  cancelReveal();
  closeSearch();
  closeThread();
  closeSettings();
  clearInvites();
  cancelReply();
  $("search-q").value = "";
  me.authFailed = false;
  me.blocked.clear();
  resetBackoff();
}

export function login(event) {
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
  const invite = $("login-invite").hidden ? null : $("login-invite").value.trim() || null;
  Object.assign(me, { nick, password, invite, token: null, remember: $("login-remember").checked });
  $("login-error").textContent = "Logging in…";
  $("login-submit").disabled = true;
  connect();
}

export function logout() {
  transmit({ type: "logout" });
  disconnect();
  forget();
  reset();
  me.nick = null;
  showLogin("");
}

export function welcome(frame) {
  const first = me.token === null;
  me.nick = frame.nick;
  me.token = frame.token;
  me.password = null;
  me.invite = null;
  if (first) {
    keepToken(frame.token);
    showChat();
  }
  setStatus("");
  me.admin = frame.admin === true; // may delete anyone's message, kick and ban in any room
  me.editWindow = frame.limits ? frame.limits.edit_window_s : null;
  setMaxBody(frame.limits);
  $("me-nick").textContent = frame.nick;
  knownBlocks(frame.blocked);
  knownInvites(frame.invites);
  for (const info of frame.rooms) {
    const room = roomOf(info.room);
    room.lastSeq = info.last_seq;
    room.readSeq = info.read_seq;
    room.unread = info.room === current ? 0 : info.unread;
    renderRoomButton(room);
  }
  for (const room of rooms.values()) if (!room.dm || room.last !== null) join(room);
  for (const info of frame.rooms) if (roomOf(info.room).dm) join(roomOf(info.room));
  if (rooms.size === 0) join(roomOf("general")); // a new account starts somewhere
  if (!current || !rooms.has(current)) selectRoom(firstRoom());
  resend(frame.nick);
}

/** The server refused the password or the token. */
export function authFailed() {
  me.authFailed = true;
  const withPassword = me.password !== null;
  forget();
  showLogin(withPassword ? "Wrong nick or password." : "Your session has expired; log in again.");
}

/** "Too many attempts; try again in 42 s": a refusal's text and its wait, for people. */
export function waitLine(message, retryAfter) {
  const text = String(message || "too many attempts").trim().replace(/\.$/, "");
  const line = text.charAt(0).toUpperCase() + text.slice(1);
  if (typeof retryAfter !== "number") return `${line}; try again later`;
  const seconds = Math.max(1, Math.ceil(retryAfter));
  const wait = seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
  return `${line}; try again in ${wait}`;
}

/** The server refused the login for now (too many attempts, or busy); it closes the socket next. */
export function loginLimited(frame) {
  me.authFailed = true; // the close that follows is explained on the login screen
  showLogin(waitLine(clean(frame.message), frame.retry_after));
}

/** The socket closed by itself: log in again, or reconnect after a backoff. */
export function connectionClosed(code) {
  searchDisconnected();
  roomsDisconnected();
  if (rooms.has(current)) renderMembers(rooms.get(current)); // greyed: presence is not known
  if (me.authFailed || me.nick === null) return; // showLogin already explains why
  if (code === 1008 && me.password === null) {
    forget();
    showLogin("Your session has ended; log in again.");
    return;
  }
  if (me.password !== null && me.token === null) {
    showLogin("Cannot reach the server.");
    return;
  }
  retryLater();
}
