"""Idempotency keys: unique, within the protocol's 64 characters, and ordered by time."""

from __future__ import annotations

import time

from chat_server.protocol import decode_client_frame
from chat_tui.client.ids import new_id


def test_keys_are_unique_valid_and_sort_by_the_time_they_were_made() -> None:
    keys = []
    for _ in range(200):
        keys.append(new_id())
        time.sleep(0.0001)
    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys)  # made at least 100 us apart: the time prefix orders them
    burst = [new_id() for _ in range(10_000)]
    assert len(set(burst)) == len(burst)  # the same microsecond still gives new keys
    frame = decode_client_frame(
        b'{"type":"send","room":"general","body":"hi","id":"%s"}' % keys[0].encode()
    )
    assert getattr(frame, "id", None) == keys[0]
