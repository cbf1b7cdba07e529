// Rooms with owners, pure (no DOM, no socket): who holds which role, what the viewer may do
// (which buttons the page offers; the server decides), and what a `notice` entry says and changes.
//
// The rules of DESIGN.md "Who may do what": the owner grants and revokes op and hands ownership
// on (then is an op); anyone may drop their own role; owners and ops kick and ban members, an op
// not another op nor the owner; a server admin kicks, bans and sets roles in rooms they are in;
// owners and ops set the topic; in a private room owners and ops invite, in a public one anyone.
// The server's own rules (access.py) decide; these only choose the buttons the page offers.

const ROLES = new Set(["owner", "op"]);

/** {nick: "owner"|"op"} from `joined.roles` as a Map of lower-cased nick -> role. */
export function rolesFrom(value) {
  const roles = new Map();
  if (value && typeof value === "object") {
    for (const [nick, role] of Object.entries(value)) {
      if (ROLES.has(role)) roles.set(nick.toLowerCase(), role);
    }
  }
  return roles;
}

/** "owner", "op" or "member": the role of `nick` in `roles` (a Map from rolesFrom). */
export function roleOf(roles, nick) {
  return roles.get(String(nick).toLowerCase()) || "member";
}

/** What the viewer may do in the room (topic, invite, unban) or to a member (the others). */
const RULES = {
  topic: (actor) => actor.role !== "member",
  invite: (actor, room) => !room.private || actor.role !== "member",
  kick: (actor, room, target) => outranks(actor, target),
  ban: (actor, room, target) => outranks(actor, target),
  unban: (actor) => actor.role !== "member" || actor.admin,
  op: (actor, room, target) => grants(actor) && target.role === "member",
  deop: (actor, room, target) => grants(actor) && target.role === "op" && !target.self,
  owner: (actor, room, target) => grants(actor) && target.role !== "owner",
  drop: (actor, room, target) => target.self && target.role === "op",
};

function outranks(actor, target) {
  if (target.self) return false;
  if (actor.admin || actor.role === "owner") return true;
  return actor.role === "op" && target.role === "member";
}

function grants(actor) {
  return actor.role === "owner" || actor.admin;
}

/**
 * Whether the viewer may take `action` ("topic", "invite", "kick", "ban", "unban", "op", "deop",
 * "owner", "drop"): `actor` {role, admin}, `room` {private}, `target` {role, self} for actions on
 * a member. Never in a direct conversation.
 */
export function may(action, actor, room, target = { role: "member", self: false }) {
  if (room.dm) return false;
  const rule = RULES[action];
  return rule !== undefined && rule(actor, room, target);
}

function withReason(text, reason) {
  const why = typeof reason === "string" ? reason.trim() : "";
  return why ? `${text}: ${why}` : text;
}

/** The line a `notice` entry shows ("alice removed bob: spam"); names and text as given (the
 * caller cleans them, and puts them on screen as text). */
export function noticeText(entry) {
  const by = String(entry.nick);
  const target = entry.target_nick == null ? "" : String(entry.target_nick);
  switch (entry.event) {
    case "create":
      return entry.topic ? `${by} created the room: ${entry.topic}` : `${by} created the room`;
    case "topic":
      return entry.topic ? `${by} set the topic: ${entry.topic}` : `${by} cleared the topic`;
    case "kick":
      return withReason(`${by} removed ${target}`, entry.reason);
    case "ban":
      return withReason(`${by} banned ${target}`, entry.reason);
    case "unban":
      return `${by} unbanned ${target}`;
    case "invite":
      return `${by} invited ${target}`;
    case "role":
      if (entry.role === "owner") return `${by} made ${target} the owner`;
      if (entry.role === "op") return `${by} made ${target} an op`;
      if (by.toLowerCase() === target.toLowerCase()) return `${by} gave up their role`;
      return `${by} made ${target} a member`;
    default:
      return [by, String(entry.event || "changed the room"), target].join(" ").trim();
  }
}

/**
 * Apply a notice to what the page knows of its room (`info`: {topic, roles, members}), as the
 * server applied it: a topic, a role (a new owner makes the old one an op), a member removed.
 * Returns whether anything shown changed.
 */
export function applyNotice(info, entry) {
  const target = entry.target_nick == null ? "" : String(entry.target_nick).toLowerCase();
  switch (entry.event) {
    case "create":
    case "topic":
      info.topic = typeof entry.topic === "string" ? entry.topic : "";
      return true;
    case "role":
      if (entry.role === "owner") {
        for (const [nick, role] of info.roles) if (role === "owner") info.roles.set(nick, "op");
      }
      if (ROLES.has(entry.role)) info.roles.set(target, entry.role);
      else info.roles.delete(target);
      return true;
    case "kick":
    case "ban":
      info.roles.delete(target);
      if (info.members.some((nick) => nick.toLowerCase() === target)) {
        // counted out only when listed: a notice read again after a joined counts nobody twice
        info.members = info.members.filter((nick) => nick.toLowerCase() !== target);
        if (typeof info.memberCount === "number") info.memberCount -= 1;
      }
      return true;
    default:
      return false;
  }
}
