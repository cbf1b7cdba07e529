"""The request table and the one place errors become wire codes."""

from __future__ import annotations

import typing

import pytest

from chat_server import protocol as p
from chat_server.errors import (
    Conflict,
    NotFound,
    NotMember,
    OverLimit,
    ProtocolError,
    StoreError,
    wire_error,
)
from chat_server.requests import HANDLERS, handles


def test_every_client_frame_has_exactly_one_handler() -> None:
    frame_types = set(typing.get_args(p.AnyClientFrame))
    assert set(HANDLERS) == frame_types


def test_a_second_handler_for_a_frame_type_is_refused() -> None:
    before = HANDLERS[p.Send]

    async def again(*args: object) -> None:  # pragma: no cover - never registered
        pass

    with pytest.raises(RuntimeError, match="Send has a handler already"):
        handles(p.Send)(again)
    assert HANDLERS[p.Send] is before


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (NotMember("you are not a member of this room"), "not_member", "not a member"),
        (NotFound("no such message"), "not_found", "no such message"),
        (Conflict("UNIQUE constraint failed: users.nick_key"), "conflict", "UNIQUE"),
        # a backend failure says nothing of the backend to the user
        (StoreError("disk I/O error at /var/lib/chat/chat.db"), "internal", "storage"),
    ],
)
def test_store_errors_become_wire_codes(error: StoreError, code: str, message: str) -> None:
    wire = wire_error(error, "r1")
    assert (wire.code, wire.ref) == (code, "r1")
    assert message in wire.message
    assert "/var/lib" not in wire.message
    assert code in p.ERROR_CODES


def test_a_protocol_error_passes_through_with_its_own_ref() -> None:
    refused = ProtocolError("forbidden", "not yours", "mine")
    assert wire_error(refused, "other") is refused


def test_a_per_user_limit_is_rate_limited_when_waiting_helps_too_large_when_not() -> None:
    later = wire_error(OverLimit("you may create 20 rooms an hour", retry_after=12.5), "j1")
    assert (later.code, later.retry_after, later.ref) == ("rate_limited", 12.5, "j1")
    full = wire_error(OverLimit("you are in as many rooms as allowed (100)"), "j2")
    assert (full.code, full.retry_after, full.ref) == ("too_large", None, "j2")
    assert "(100)" in full.message
