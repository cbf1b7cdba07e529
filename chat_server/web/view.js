// One message on screen, from its record as it is now (changes.js): who and when, the quote of
// the message it answers, the text (edited, or "message deleted"), reactions, the thread's size,
// and the actions the viewer may take (actions.js acts on them); and a change to the room (a
// `notice`) as one dim line. Text only, never markup.

import { clean, el, timeEl } from "./dom.js";
import { noticeText } from "./roles.js";
import { isMe, me } from "./session.js";

const QUOTE_CHARS = 60; // a reply's quote: its target's words on one line, cut to this

/** Whether the viewer may edit message `m`: their own, not deleted, within the edit window. */
export function canEdit(m) {
  if (!isMe(m.nick) || m.deleted) return false;
  if (typeof me.editWindow !== "number") return true;
  return Date.now() - Date.parse(m.ts) < me.editWindow * 1000;
}

/** Whether the viewer may delete message `m`: their own, or anyone's for a server admin. */
export function canDelete(m) {
  return !m.deleted && (isMe(m.nick) || me.admin === true);
}

/** "↳ alice: the first words…", "↳ deleted message", or "↳ …" while the target is fetched. */
export function quoteText(target) {
  if (!target) return "↳ …";
  if (target.deleted) return "↳ deleted message";
  const line = clean(target.body).split(/\s+/).join(" ").trim(); // on one line, as chat-tui's
  const words = line.length > QUOTE_CHARS ? line.slice(0, QUOTE_CHARS - 1).trimEnd() + "…" : line;
  return `↳ ${clean(target.nick)}: ${words}`;
}

function actionButton(action, label) {
  const button = el("button", `act act-${action}`, label);
  button.type = "button";
  button.dataset.action = action;
  button.setAttribute("aria-label", label);
  return button;
}

function actionsEl(m) {
  const bar = el("div", "actions");
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", `Actions on ${clean(m.nick)}'s message`);
  bar.append(actionButton("reply", "Reply"), actionButton("react", "React"));
  if (canEdit(m)) bar.append(actionButton("edit", "Edit"));
  if (canDelete(m)) bar.append(actionButton("delete", "Delete"));
  return bar;
}

function reactionsEl(m) {
  const list = el("div", "reactions");
  for (const r of m.reactions) {
    const mine = r.nicks.some(isMe);
    const chip = el("button", mine ? "reaction mine" : "reaction");
    chip.type = "button";
    chip.dataset.emoji = r.emoji;
    chip.setAttribute("aria-pressed", String(mine));
    chip.append(el("span", "emoji", clean(r.emoji)), " ", el("span", "count", String(r.count)));
    const others = r.count - r.nicks.length; // a page names at most 50 per emoji
    chip.title = r.nicks.map(clean).join(", ") + (others > 0 ? ` and ${others} more` : "");
    chip.setAttribute("aria-label", `${clean(r.emoji)} ${r.count}: ${chip.title}`);
    list.append(chip);
  }
  return list;
}

/**
 * The element of message `m` (a record of changes.js, or a pending send); `target` is the record
 * of the message it answers (undefined when not held yet).
 */
export function messageEl(m, target, pending = false) {
  const item = el("li", "msg");
  item.dataset.seq = String(m.seq);
  item.dataset.id = m.id;
  if (m.reply_to != null) item.dataset.replyTo = String(m.reply_to);
  if (isMe(m.nick)) item.classList.add("mine");
  const head = el("div", "meta");
  head.append(el("span", "nick", clean(m.nick)), " ", timeEl(m.ts));
  if (m.reply_to != null) {
    const quote = el("button", "quote", quoteText(target));
    quote.type = "button";
    quote.dataset.action = "quote";
    quote.title = "Show the message this answers";
    item.append(quote);
  }
  item.append(head);
  if (m.deleted) {
    item.classList.add("deleted");
    item.append(el("div", "body gone", "message deleted"));
  } else {
    const body = el("div", "body", clean(m.body));
    if (m.edited) {
      const mark = el("span", "edited", " (edited)");
      mark.title = `Edited ${new Date(m.edited).toLocaleString()}`;
      body.append(mark);
    }
    item.append(body);
  }
  if (m.reactions && m.reactions.length > 0) item.append(reactionsEl(m));
  if (m.replies > 0) {
    const replies = el("button", "link replies", m.replies === 1 ? "1 reply" : `${m.replies} replies`);
    replies.type = "button";
    replies.dataset.action = "thread";
    item.append(replies);
  }
  if (!pending && !m.deleted) item.append(actionsEl(m));
  return item;
}

/** A `notice` entry (a topic, a kick, a ban, a role): one dim line, "alice removed bob: spam". */
export function noticeEl(entry) {
  const item = el("li", "event");
  item.dataset.seq = String(entry.seq);
  item.dataset.event = String(entry.event);
  const text = noticeText({
    ...entry,
    event: clean(entry.event ?? ""),
    nick: clean(entry.nick),
    target_nick: entry.target_nick == null ? null : clean(entry.target_nick),
    topic: entry.topic == null ? null : clean(entry.topic).replace(/\s+/g, " "),
    reason: entry.reason == null ? null : clean(entry.reason).replace(/\s+/g, " "),
  });
  item.append(el("span", "text", text), " ", timeEl(entry.ts));
  return item;
}
