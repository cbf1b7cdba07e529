"""The envelope of an event on the Redis channel: its msgpack form, and its delivery to the
local hub (pure: no Redis)."""

from __future__ import annotations

import msgspec

from chat_server.broker.base import Receiver


class RoomEvent(msgspec.Struct, tag="r", array_like=True):
    """``sent``: the publisher's clock (Unix seconds) when it published the event, for the
    lag metric; an older node neither sends it nor reads it."""

    room: str
    data: bytes
    seq: int | None = None
    exclude_user: int | None = None
    sent: float | None = None


class UserEvent(msgspec.Struct, tag="u", array_like=True):
    user_id: int
    data: bytes
    exclude: str | None = None


class RoomEventExcept(msgspec.Struct, tag="e", array_like=True):
    room: str
    data: bytes
    exclude_users: list[int]


class UserRoomEvents(msgspec.Struct, tag="p", array_like=True):
    """Room events for one user's subscribed connections (an older node ignores the tag)."""

    user_id: int
    events: list[tuple[str, bytes]]


class SubscribeUser(msgspec.Struct, tag="s", array_like=True):
    user_id: int
    room: str


class LeaveUser(msgspec.Struct, tag="x", array_like=True):
    user_id: int
    room: str
    data: bytes
    exclude: str | None = None


class LoginResult(msgspec.Struct, tag="l", array_like=True):
    """A failed login. ``failed`` is always true now (older nodes also sent successes, which
    are ignored); ``address`` came last, so an older node still reads the rest."""

    node: str
    key: str
    failed: bool
    address: str | None = None


class Signup(msgspec.Struct, tag="a", array_like=True):
    """An account created from ``address`` (or about to be: the node counted it). Nodes
    from before this kind read it as an unknown envelope, which they log and ignore."""

    node: str
    address: str


Envelope = (
    RoomEvent
    | UserEvent
    | RoomEventExcept
    | UserRoomEvents
    | SubscribeUser
    | LeaveUser
    | LoginResult
    | Signup
)

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Envelope] = msgspec.msgpack.Decoder(Envelope)


def encode_envelope(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def decode_envelope(data: bytes) -> Envelope | None:
    """The envelope, or None for anything else published on the channel (a kind from a
    newer node included: a tag not in :data:`Envelope` fails validation)."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def deliver(receiver: Receiver, envelope: Envelope) -> None:
    """Hand one event to the local hub (failed logins and signups are not the hub's)."""
    match envelope:
        case RoomEvent(room, data, seq, exclude_user, _):
            receiver.deliver_room(room, data, seq, exclude_user)
        case UserEvent(user_id, data, exclude):
            receiver.deliver_user(user_id, data, exclude)
        case RoomEventExcept(room, data, exclude_users):
            receiver.deliver_room_except(room, data, frozenset(exclude_users))
        case UserRoomEvents(user_id, events):
            receiver.deliver_user_rooms(user_id, events)
        case SubscribeUser(user_id, room):
            receiver.subscribe_user(user_id, room)
        case LeaveUser(user_id, room, data, exclude):
            receiver.leave_user(user_id, room, data, exclude)
