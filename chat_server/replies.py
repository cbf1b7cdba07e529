"""Replies that fit: a list reply (a history page, search results, a page of members) cut to
a byte budget.

Pure: the hub says how many bytes a connection may still be sent (its own budget and the
server's); this module decides how much of a reply fits in them. A cut page says ``more``,
so the client pages on for the rest; what it keeps is the end it asked from: the oldest of
an ``after`` page, the newest of a page that pages back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from chat_server import protocol as p

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode


def fit(items: Sequence[T], overhead: int, budget: int, *, keep_tail: bool) -> int:
    """How many of ``items`` (each encoded on its own, plus a comma) fit in ``budget``
    bytes beside ``overhead``, counted from the head, or from the tail when ``keep_tail``."""
    room = budget - overhead
    count = 0
    for item in reversed(items) if keep_tail else items:
        room -= len(_encode(item)) + 1
        if room < 0:
            break
        count += 1
    return count


def fit_page(page: p.HistoryPage, budget: int, *, keep_newest: bool) -> bytes | None:
    """The page encoded, cut to ``budget`` bytes (then ``more``); None when not even one
    message fits."""
    data = p.encode(page)
    if len(data) <= budget:
        return data
    empty = msgspec.structs.replace(page, messages=[], more=True)
    kept = fit(page.messages, len(p.encode(empty)), budget, keep_tail=keep_newest)
    if kept == 0:
        return None
    messages = page.messages[-kept:] if keep_newest else page.messages[:kept]
    return p.encode(msgspec.structs.replace(page, messages=messages, more=True))


def fit_results(results: p.Results, budget: int) -> bytes | None:
    """Search results encoded, the newest hits that fit in ``budget`` bytes; None when
    not even one fits."""
    data = p.encode(results)
    if len(data) <= budget:
        return data
    empty: Any = msgspec.structs.replace(results, messages=[])
    kept = fit(results.messages, len(p.encode(empty)), budget, keep_tail=False)
    if kept == 0:
        return None
    return p.encode(msgspec.structs.replace(results, messages=results.messages[:kept]))


def fit_members(page: p.MemberPage, budget: int) -> bytes | None:
    """A page of members encoded, its first nicks that fit in ``budget`` bytes (then
    ``more``: the client asks on after the last one); None when not even one fits."""
    data = p.encode(page)
    if len(data) <= budget:
        return data
    online = set(page.online)
    room = budget - len(p.encode(msgspec.structs.replace(page, members=[], online=[], more=True)))
    kept = 0
    for nick in page.members:  # a nick, and the same again when it is online too
        room -= (len(_encode(nick)) + 1) * (2 if nick in online else 1)
        if room < 0:
            break
        kept += 1
    if kept == 0:
        return None
    members = page.members[:kept]
    shown = [nick for nick in page.online if nick in set(members)]
    return p.encode(msgspec.structs.replace(page, members=members, online=shown, more=True))
