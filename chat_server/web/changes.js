// A room's messages as they are now, pure (no DOM, no socket): entries applied by `version`.
//
// The rule of docs/protocol.md section 9: keep each message's `version` (its seq when absent) and
// apply an entry (live, or from any page) only when its seq is above the version of the message it
// targets, then set that version to the entry's seq. An edit sets the text and `edited`; a delete
// (or an edit or react entry with `deleted: true`) empties the text and drops the reactions; a react
// adds or takes back a nick (and one to or from its `count`); a reply adds one to its root's
// `replies`. Entries of a message not held
// are skipped: whenever it is fetched it comes as it is now. Pages and live frames may overlap.

const CHANGES = new Set(["edit", "delete", "react"]);

const KINDS = new Set([...CHANGES, "notice"]);

/** "message", "edit", "delete", "react" or "notice" (a change to the room, see roles.js): a live
 * frame says it by `type`, a page entry by `kind`. */
export function kindOf(entry) {
  if (typeof entry.kind === "string" && KINDS.has(entry.kind)) return entry.kind;
  if (typeof entry.type === "string" && KINDS.has(entry.type)) return entry.type;
  return "message";
}

function sameNick(a, b) {
  return String(a).toLowerCase() === String(b).toLowerCase();
}

/** A message's record: only the fields a client shows, fresh copies (never the frame itself). */
function record(m) {
  return {
    room: m.room,
    seq: m.seq,
    nick: m.nick,
    ts: m.ts,
    id: m.id,
    body: m.deleted ? "" : String(m.body ?? ""),
    edited: m.edited || null,
    deleted: m.deleted === true,
    reactions: m.deleted
      ? []
      : (Array.isArray(m.reactions) ? m.reactions : []).map((r) => {
          const nicks = Array.isArray(r.nicks) ? r.nicks.map(String) : [];
          // a page lists at most 50 nicks per emoji; `count` says how many reacted past that
          const count = Math.max(Number(r.count) || 0, nicks.length);
          return { emoji: String(r.emoji), nicks, count };
        }),
    replies: Number(m.replies) || 0,
    reply_to: Number.isInteger(m.reply_to) ? m.reply_to : null,
    thread: Number.isInteger(m.thread) ? m.thread : null,
    version: Number.isInteger(m.version) ? m.version : m.seq,
  };
}

export class RoomState {
  #messages = new Map(); // seq -> record

  get(seq) {
    return this.#messages.get(seq);
  }

  has(seq) {
    return this.#messages.has(seq);
  }

  /** Hold message `m` as it is now; a copy already held at a later version wins. The record. */
  hold(m) {
    const held = this.#messages.get(m.seq);
    const fresh = record(m);
    if (held && held.version >= fresh.version) return held;
    this.#messages.set(m.seq, fresh);
    return fresh;
  }

  /**
   * Take one entry of the log: a message is held (and counts on its thread's root), a change is
   * applied to its target, a notice (a change to the room) is not held. Returns the seqs of the
   * messages whose state changed (for redrawing).
   */
  apply(entry) {
    const kind = kindOf(entry);
    if (kind === "notice") return []; // a change to the room, not to a message
    if (kind === "message") {
      const changed = [this.hold(entry).seq];
      const root = entry.thread != null ? this.#messages.get(entry.thread) : undefined;
      if (root && entry.seq > root.version) {
        root.replies += 1;
        root.version = entry.seq;
        changed.push(root.seq);
      }
      return changed;
    }
    const target = this.#messages.get(entry.target);
    if (!target || entry.seq <= target.version) return [];
    target.version = entry.seq;
    if (target.deleted) return [target.seq]; // nothing comes back once erased
    if (kind === "delete" || entry.deleted === true) {
      Object.assign(target, { deleted: true, body: "", reactions: [] });
    } else if (kind === "edit") {
      Object.assign(target, { body: String(entry.body ?? ""), edited: entry.ts });
    } else if (entry.remove === true) {
      const reaction = target.reactions.find((r) => r.emoji === entry.emoji);
      if (reaction) {
        const listed = reaction.nicks.some((n) => sameNick(n, entry.nick));
        reaction.nicks = reaction.nicks.filter((n) => !sameNick(n, entry.nick));
        if (listed || reaction.count > reaction.nicks.length) reaction.count -= 1;
      }
      target.reactions = target.reactions.filter((r) => r.count > 0);
    } else {
      let reaction = target.reactions.find((r) => r.emoji === entry.emoji);
      if (!reaction) {
        reaction = { emoji: String(entry.emoji), nicks: [], count: 0 };
        target.reactions.push(reaction);
      }
      if (!reaction.nicks.some((n) => sameNick(n, entry.nick))) {
        reaction.nicks.push(entry.nick);
        reaction.count += 1;
      }
    }
    return [target.seq];
  }

  /** The messages held that quote `seq` (their quote is redrawn when it changes). */
  repliesTo(seq) {
    return Array.from(this.#messages.values()).filter((m) => m.reply_to === seq);
  }
}
