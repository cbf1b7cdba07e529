// Per-room ordering, pure (no DOM, no socket): a room's messages go out exactly once, in seq order.
//
// The rule of docs/protocol.md section 4, as chat_tui/sequencing.py's Sequencer applies it: `last` is
// the last seq delivered; a message at `last + 1` goes out at once (with any held messages it
// unblocks), one further ahead is held while `gap` is true (the caller fetches `history after=last`
// to fill it), and one at or below `last` is a duplicate and is dropped. Before a room's first
// history page `last` is null: everything is held until `advance` says where the room starts.
//
// Unlike the Sequencer there is no `skip_gap`: while a hole remains the client asks again, as a
// `history after` page may have been read before the message past the hole was stored.

export class Sequencer {
  #held = new Map(); // seq -> message, waiting for its predecessors

  constructor(last = null) {
    this.last = last;
  }

  /** Take one message (anything with a numeric `seq`); return the messages now ready, in order. */
  offer(message) {
    const seq = message.seq;
    if ((this.last !== null && seq <= this.last) || this.#held.has(seq)) return [];
    this.#held.set(seq, message);
    return this.#release();
  }

  /** Whether messages are held waiting for earlier ones (or for the room's start). */
  get gap() {
    return this.#held.size > 0;
  }

  /** The highest seq known: delivered or held (null before the start with nothing held). */
  get highest() {
    let top = this.last;
    for (const seq of this.#held.keys()) if (top === null || seq > top) top = seq;
    return top;
  }

  /**
   * Mark everything up to `seq` as seen (never moves back), drop held duplicates, and return the
   * held messages this unblocks. The first call sets where a room starts.
   */
  advance(seq) {
    if (this.last === null || seq > this.last) {
      this.last = seq;
      for (const held of this.#held.keys()) if (held <= seq) this.#held.delete(held);
    }
    return this.#release();
  }

  #release() {
    const ready = [];
    if (this.last === null) return ready;
    for (let next = this.#held.get(this.last + 1); next; next = this.#held.get(this.last + 1)) {
      this.#held.delete(next.seq);
      this.last = next.seq;
      ready.push(next);
    }
    return ready;
  }
}
