"""Big replies within the output budgets: a page or a result list is cut to what the
connection (``--max-buffer``) and the server (``--max-pending-output``) may still take.

When not even one message fits: if the connection's own unread output is what leaves no
room, it is a slow consumer and is closed 1013 (it reconnects and resumes); if the server
as a whole is busy sending, the request is refused with ``rate_limited`` and a
``retry_after``, and nothing else changes.

History pages, search results and member pages also cost their bytes from the user's
``--read-bytes-rate`` bucket, shared by the user's connections: reading and encoding a page
of long messages takes the event loop milliseconds, and 32 connections of one user asking
them back to back held everyone else's replies for seconds. The cost is known only once
the reply is made, so a reply is refused only while the bucket is in debt (``afford``),
and paid after (``charge``). A join's backlog is never refused for it: a reconnect must
get its rooms back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.replies import fit_members, fit_page, fit_results

BUSY_RETRY_S = 1.0


def _budget(ctx: Context, session: Session, reserve: int) -> tuple[int, bool]:
    """The bytes a reply may take, and whether the connection's own budget binds."""
    own, server = ctx.hub.room_for(session)
    return min(own, server) - reserve, own <= server


def _refuse(ctx: Context, session: Session, own_binds: bool, ref: str | None) -> None:
    if own_binds:
        ctx.hub.close_slow(session)
        return
    raise ProtocolError(
        "rate_limited", "the server is busy sending: try again", ref, retry_after=BUSY_RETRY_S
    )


def afford(session: Session, ref: str | None) -> None:
    """Refuse a page or a search while the user's read bytes are in debt (see above)."""
    bucket = session.read_bytes
    if bucket.tokens(time.monotonic()) < 0:
        raise ProtocolError(
            "rate_limited", "too much read at once: slow down", ref,
            retry_after=bucket.retry_after(0.0),
        )  # fmt: skip


def charge(session: Session, data: bytes) -> None:
    """Count a written page's or result list's bytes in the user's read bytes."""
    session.read_bytes.spend(time.monotonic(), len(data))


def page_reply(
    ctx: Context, session: Session, page: p.HistoryPage, *, keep_newest: bool, reserve: int = 0
) -> bytes | None:
    """The page as it may be written now (cut, with ``more``, when it must), or None when
    the connection is being closed as a slow consumer. ``reserve``: bytes written with it."""
    budget, own_binds = _budget(ctx, session, reserve)
    data = fit_page(page, budget, keep_newest=keep_newest)
    if data is None:
        _refuse(ctx, session, own_binds, page.ref)
    return data


def write_big(ctx: Context, session: Session, *frames: bytes) -> None:
    """Write replies that passed the budget check, and count them in the server's total."""
    for data in frames:
        ctx.hub.write(session, data)
        ctx.hub.account(data)


def write_results(ctx: Context, session: Session, results: p.Results) -> None:
    """Search results, the newest hits that fit."""
    _write_fitted(ctx, session, results.ref, lambda budget: fit_results(results, budget))


def write_members(ctx: Context, session: Session, page: p.MemberPage) -> None:
    """A page of members, its first nicks that fit (then ``more``)."""
    _write_fitted(ctx, session, page.ref, lambda budget: fit_members(page, budget))


def _write_fitted(
    ctx: Context, session: Session, ref: str | None, fitted: Callable[[int], bytes | None]
) -> None:
    """Write what ``fitted`` makes of the reply in the bytes the budgets leave, or refuse."""
    budget, own_binds = _budget(ctx, session, 0)
    data = fitted(budget)
    if data is None:
        _refuse(ctx, session, own_binds, ref)
        return
    write_big(ctx, session, data)
    charge(session, data)
