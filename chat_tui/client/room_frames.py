"""The room commands of protocol 2 as the client sends them (DESIGN.md, "Who may do what").

Each is answered by an ``ack`` after its ``notice`` entry is committed (``create`` and
``invite`` by an ``ack`` alone), or an ``error``; each carries an ``id`` like ``send``, so
that the outbox can make it again after a reconnect without doing it twice.
"""

from __future__ import annotations

from typing import Literal

from chat_server import protocol as p

RoleName = Literal["owner", "op", "member"]


class Create(p.ClientFrame, tag="create"):
    """Make a room (``conflict`` when the name is taken); its creator is its owner."""

    room: str
    id: str
    private: bool = False
    topic: str | None = None


class Invite(p.ClientFrame, tag="invite"):
    room: str
    nick: str
    id: str


class _AboutSomeone(p.ClientFrame):
    """A room command that acts on one member (``kick``, ``ban``, ``unban``)."""

    room: str
    nick: str
    id: str
    reason: str | None = None


class Kick(_AboutSomeone, tag="kick"):
    pass


class Ban(_AboutSomeone, tag="ban"):
    pass


class Unban(_AboutSomeone, tag="unban"):
    pass


class Role(p.ClientFrame, tag="role"):
    """Give ``nick`` a role: ``owner`` hands the room on (the owner becomes an op)."""

    room: str
    nick: str
    role: RoleName
    id: str


class Topic(p.ClientFrame, tag="topic"):
    room: str
    topic: str
    id: str


RoomCommand = Create | Invite | Kick | Ban | Unban | Role | Topic
