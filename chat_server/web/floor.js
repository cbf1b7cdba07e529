// Retention: a server may erase a room's oldest entries; the room's `floor` is its first seq
// still stored (docs/protocol.md section 11). Below it nothing is missing, only erased: the
// ordering starts at the floor, and the top of the log says older messages were removed.

import { el } from "./dom.js";

const UNITS = [
  [86400, "day"],
  [3600, "hour"],
  [60, "minute"],
  [1, "second"],
];

/** 7776000 -> "90 days": the largest unit that divides it. */
export function keptFor(seconds) {
  const [size, unit] = UNITS.find(([s]) => seconds % s === 0);
  const n = seconds / size;
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/** `joined`: the room's floor and how long it keeps its entries (absent: forever). */
export function joinedFloor(room, frame) {
  room.floor = Number.isInteger(frame.floor) ? frame.floor : 1;
  room.retentionS = Number.isInteger(frame.retention_s) ? frame.retention_s : null;
}

/** A `history` page: the floor it was read at; returns what the ordering releases once the
 * entries below the floor count as passed (a resume from below it would otherwise ask again
 * and again for a hole the server can never fill). Where the log skips erased entries, one
 * line says so. */
export function passFloor(room, frame) {
  if (!Number.isInteger(frame.floor)) return [];
  room.floor = Math.max(room.floor || 1, frame.floor);
  if (room.last === null || frame.floor - 1 <= room.last) return [];
  const line = el("li", "floor", floorText(room));
  room.list.insertBefore(line, room.list.querySelector(".pending"));
  return room.order.advance(frame.floor - 1);
}

/** The line at the top of the log once it reaches the floor; "" when nothing was erased. */
export function floorText(room) {
  if (!(room.floor > 1)) return "";
  if (!room.retentionS) return "Older messages were removed.";
  return `Older messages were removed (kept for ${keptFor(room.retentionS)}).`;
}
