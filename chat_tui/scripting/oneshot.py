"""Send some messages and exit, on websockets' blocking client: the path `chat-tui send` runs.

A cron job's ``chat-tui send`` should start about as fast as a hand-written script, and importing
asyncio alone costs more than the rest of the command, so this path speaks the protocol with
blocking calls (JSON from the standard library, no msgspec either: importing the typed frames of
``chat_server.protocol`` would add 10-15 % to the command's start). It keeps ChatClient's outbox
guarantees: messages go out in order, each with its id, paced to the server's rate limit; after
a dropped connection it reconnects with the same backoff and sends again whatever was not
acknowledged, which the server's idempotency makes harmless. The first connection failing is a
ConnectError (exit 3), as in ChatClient.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from chat_server.ratelimit import TokenBucket
from chat_tui import __version__
from chat_tui.client.errors import Busy, ConnectError, ServerError, handshake_refusal, refusal
from chat_tui.client.sequencing import Backoff

Frame = dict[str, Any]

_refs = itertools.count()


class Deadline(Exception):
    """No ack came before the command's ``--timeout``."""


@dataclass
class Outgoing:
    """One message to send, and its ack once the server has stored it."""

    body: str
    id: str
    ack: Frame | None = None


@dataclass
class Target:
    """Where the messages go: a room (joined if need be) or a person."""

    room: str | None = None
    to: str | None = None
    joined: bool = False
    reply_to: int | None = None  # the seq of the message they answer (protocol 2)
    create: bool = False  # a room that does not exist is made (else not_found)

    def frame(self, item: Outgoing, ref: str) -> Frame:
        where: Frame = {"room": self.room} if self.room is not None else {"to": self.to}
        if self.reply_to is not None:
            where["reply_to"] = self.reply_to
        return {"type": "send", **where, "body": item.body, "id": item.id, "ref": ref}


@dataclass
class Login:
    token: str | None = None
    nick: str | None = None
    password: str | None = None
    created: bool = False  # the nick was new: this login made the account


def send_all(
    url: str,
    login: Login,
    target: Target,
    items: list[Outgoing],
    timeout: float,
    backoff: Backoff | None = None,
) -> list[Frame]:
    """Send ``items`` in order and return their acks; reconnects until ``timeout`` runs out."""
    backoff = backoff or Backoff()
    until = time.monotonic() + timeout
    attempt = 0
    connected_once = False
    while True:
        told: float | None = None  # a busy server's Retry-After
        try:
            with _open(url, until) as ws:
                rate = _hello(ws, login, until)
                connected_once = True
                attempt = 0
                bucket = TokenBucket(
                    float(rate["per_second"]), int(rate["burst"]), time.monotonic()
                )
                _deliver(ws, target, items, bucket, until)
                return [item.ack for item in items if item.ack is not None]
        except (ConnectionClosed, OSError) as exc:
            if not connected_once:
                raise ConnectError(f"cannot connect to {url}: {exc}") from exc
        except Busy as exc:  # a server logging a crowd in: back when it says, time allowing
            told = exc.retry_after
            if time.monotonic() + backoff.after(attempt, told, 0.0) >= until:
                raise
        except ConnectError:
            # A refused handshake (a server mid-restart behind a proxy answers 502/503) is
            # fatal only before the first login; afterwards it is one more reconnect attempt.
            if not connected_once:
                raise
        delay = backoff.after(attempt, told)
        attempt += 1
        if time.monotonic() + delay >= until:
            raise Deadline()
        time.sleep(delay)


def _open(url: str, until: float) -> ClientConnection:
    try:
        return connect(
            url,
            open_timeout=_left(until),
            compression=None,
            max_size=None,
            user_agent_header=f"chat-tui/{__version__}",
        )
    except (InvalidHandshake, InvalidURI, TimeoutError) as exc:
        told = handshake_refusal(exc)  # busy: come back when it says
        if told is not None:
            raise told from exc
        raise ConnectError(f"cannot connect to {url}: {exc or type(exc).__name__}") from exc


def _left(until: float) -> float:
    left = until - time.monotonic()
    if left <= 0:
        raise Deadline()
    return left


def _recv(ws: ClientConnection, until: float) -> Frame:
    try:
        data = ws.recv(timeout=_left(until))
    except TimeoutError:
        raise Deadline() from None
    frame = json.loads(data)
    if not isinstance(frame, dict):
        raise ConnectError("the server does not speak protocol v1")
    return frame


def _hello(ws: ClientConnection, login: Login, until: float) -> Frame:
    """Log in; returns the server's send rate limit (``welcome.limits.rate``)."""
    hello: Frame = {"type": "hello", "client": f"chat-tui/{__version__}"}
    if login.token is not None:
        hello["token"] = login.token
    else:
        hello.update(nick=login.nick, password=login.password)
    ws.send(json.dumps(hello))
    while True:
        frame = _recv(ws, until)
        if frame.get("type") == "welcome":
            login.token = frame["token"]  # a reconnect logs in with the token
            login.created = login.created or bool(frame.get("created"))
            rate: Frame = frame["limits"]["rate"]
            return rate
        if frame.get("type") == "error":
            raise refusal(frame["code"], frame["message"], frame.get("retry_after"))


def _deliver(
    ws: ClientConnection, target: Target, items: list[Outgoing], bucket: TokenBucket, until: float
) -> None:
    """Send what is unacked, in order: the first alone when the room may need a join."""
    unacked = [item for item in items if item.ack is None]
    if not unacked:
        return
    if target.room is not None and not target.joined:
        refused = _pump(ws, target, unacked[:1], bucket, until, tolerate="not_member")
        if refused:
            _join(ws, target.room, until, create=target.create)
            _pump(ws, target, unacked[:1], bucket, until)
        target.joined = True
        unacked = unacked[1:]
    _pump(ws, target, unacked, bucket, until)


def _join(ws: ClientConnection, room: str, until: float, *, create: bool) -> None:
    ws.send(json.dumps({"type": "join", "room": room, "create": create, "ref": "join"}))
    while True:
        frame = _recv(ws, until)
        if frame.get("ref") != "join":
            continue
        if frame["type"] == "error":
            raise ServerError(frame["code"], frame["message"])
        if frame["type"] == "history":
            return


def _pump(
    ws: ClientConnection,
    target: Target,
    items: list[Outgoing],
    bucket: TokenBucket,
    until: float,
    tolerate: str | None = None,
) -> bool:
    """Send ``items`` paced by ``bucket`` and wait for every ack.

    Returns True when the server refused with ``tolerate`` (the caller knows what to do);
    any other refusal is a ServerError. ``rate_limited`` is sent again a little later.
    """
    queue = list(items)
    by_ref: dict[str, Outgoing] = {}
    waiting = len(items)
    while waiting:
        while queue:
            _left(until)  # paced by the rate limit, the wait is bounded by --timeout too
            if not bucket.take(time.monotonic()):
                if _drain(ws, target, queue, by_ref, bucket, until, tolerate, wait=0.02):
                    return True
                continue
            item = queue.pop(0)
            ref = f"s{next(_refs)}"
            by_ref[ref] = item
            ws.send(json.dumps(target.frame(item, ref)))
        if _drain(ws, target, queue, by_ref, bucket, until, tolerate, wait=None):
            return True
        waiting = sum(item.ack is None for item in items)
    return False


def _drain(
    ws: ClientConnection,
    target: Target,
    queue: list[Outgoing],
    by_ref: dict[str, Outgoing],
    bucket: TokenBucket,
    until: float,
    tolerate: str | None,
    wait: float | None,
) -> bool:
    """Take one reply (or, with ``wait``, none if none comes that fast) and file it."""
    if wait is not None:
        try:
            data = ws.recv(timeout=wait)
        except TimeoutError:
            return False
        frame = json.loads(data)
    else:
        frame = _recv(ws, until)
    kind = frame.get("type")
    if kind == "ack" and frame.get("ref") in by_ref:
        by_ref[frame["ref"]].ack = {k: frame[k] for k in ("id", "room", "seq", "ts")}
    elif kind == "error" and frame.get("ref") in by_ref:
        item = by_ref[frame["ref"]]
        if frame["code"] == "rate_limited":
            queue.insert(0, item)
        elif frame["code"] == tolerate:
            return True
        else:
            raise ServerError(frame["code"], frame["message"])
    return False
