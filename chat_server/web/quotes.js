// The targets of replies this tab does not hold: fetched with `history around`, held as they are
// now, and the quotes that waited for them drawn again.
//
// A reply carries no copy of its target (docs/protocol.md section 9), so a delete erases the
// quote too: the quote is always drawn from the target's record.

import { isConnected, request } from "./connection.js";
import { redraw } from "./log.js";
import { rooms } from "./rooms.js";

const AROUND = 20; // entries asked around a missing target (its neighbours are often quoted too)

/** A reply of `room` quotes `seq`, not held: fetch it (once per connection while it is missing). */
export function wantQuote(room, seq) {
  if (!isConnected() || room.quoting.has(seq) || room.last === null) return;
  room.quoting.add(seq);
  request({ type: "history", room: room.name, around: seq, limit: AROUND }, "around", room);
}

/** The answer to an `around`: hold its messages, apply its changes, redraw what waited. */
export function aroundPage(frame) {
  const room = rooms.get(frame.room);
  if (!room) return;
  const seqs = [];
  for (const entry of frame.messages) seqs.push(...room.state.apply(entry));
  redraw(room, seqs);
}

/** An `around` was refused, or lost with the connection: it may be asked again. */
export function quotesForgotten(room) {
  room.quoting.clear();
}
