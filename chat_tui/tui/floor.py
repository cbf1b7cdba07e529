"""The line at the top of a room whose oldest messages the server erased (retention): the
room's ``floor`` is its first entry still stored, and the user is told, not left with a
silent gap."""

from __future__ import annotations

from dataclasses import dataclass

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


@dataclass(frozen=True)
class FloorItem:
    """The dim line "older messages were removed (kept for 90 days)"."""

    text: str


def kept_for(seconds: int) -> str:
    """``7776000`` -> ``90 days``: the largest unit that divides it."""
    for size, unit in _UNITS:
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("" if n == 1 else "s")
    return f"{seconds} seconds"  # pragma: no cover - a second divides every whole number


def floor_text(retention_s: int | None) -> str:
    """What the line says; the room's retention when the server told it."""
    if retention_s is None or retention_s <= 0:
        return "older messages were removed"
    return f"older messages were removed (kept for {kept_for(retention_s)})"


def floor_item(floor: int, retention_s: int | None, more_before: bool) -> FloorItem | None:
    """The line to draw above the room's history: once the history reaches down to the
    floor (nothing older to load), when the server erased anything (``floor`` above 1)."""
    if floor <= 1 or more_before:
        return None
    return FloorItem(floor_text(retention_s))
