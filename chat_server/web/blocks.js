// Blocking people: `block`/`unblock` requests, from the people list or `/block nick` typed in
// the composer, and what this tab knows of whom the user blocked.
//
// A blocked person's direct messages are refused by the server and they stop seeing when the
// user is online. The welcome lists whom the user blocked (`blocked`), so the people list's
// buttons say "Unblock" for blocks made anywhere, before this tab too; a server older than that
// list leaves only the blocks made in this tab known (blocking again does no harm).

import { request } from "./connection.js";
import { clean, notice } from "./dom.js";
import { renderMembers } from "./people.js";
import { current, rooms } from "./rooms.js";
import { me } from "./session.js";

const COMMAND = /^\/(block|unblock)\s+@?([A-Za-z0-9_-]{1,32})\s*$/;

/** Ask the server to block (or unblock) `nick`; the answer comes as `blocked`/`unblocked`. */
export function setBlocked(nick, block) {
  request({ type: block ? "block" : "unblock", nick }, block ? "block" : "unblock");
}

/** A composer line that is `/block nick` or `/unblock nick`: do it and say true. */
export function blockCommand(text) {
  const match = COMMAND.exec(text.trim());
  if (!match) return false;
  if (match[2].toLowerCase() === me.nick.toLowerCase()) notice("That is you: name someone else.");
  else setBlocked(match[2], match[1] === "block");
  return true;
}

/** The welcome's list of blocked nicks (absent from older servers: keep what this tab knows). */
export function knownBlocks(nicks) {
  if (!Array.isArray(nicks)) return;
  me.blocked.clear();
  for (const nick of nicks) if (typeof nick === "string") me.blocked.add(nick.toLowerCase());
  const room = rooms.get(current);
  if (room) renderMembers(room);
}

function changed(nick, block) {
  if (block) me.blocked.add(nick.toLowerCase());
  else me.blocked.delete(nick.toLowerCase());
  const room = rooms.get(current);
  if (room) renderMembers(room);
}

export function blocked(frame) {
  changed(frame.nick, true);
  notice(`Blocked ${clean(frame.nick)}: they cannot message you or see when you are online.`);
}

export function unblocked(frame) {
  changed(frame.nick, false);
  notice(`Unblocked ${clean(frame.nick)}.`);
}
