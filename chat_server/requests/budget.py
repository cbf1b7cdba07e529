"""What a request costs before it is served: a token of each of its buckets.

Sends spend the user's bucket; ``history``, ``members``, ``search``, ``rooms`` and ``join`` the
connection's read bucket, and ``search`` its search bucket besides. Over a budget the
answer is ``rate_limited`` with ``retry_after`` at once, and nothing is read or stored.
"""

from __future__ import annotations

import time

from chat_server.errors import ProtocolError
from chat_server.ratelimit import TokenBucket, take_all


def spend(ref: str | None, *buckets: TokenBucket) -> None:
    """Take a token of every bucket, or raise ``rate_limited`` (taking none)."""
    wait = take_all(buckets, time.monotonic())
    if wait is not None:
        raise ProtocolError("rate_limited", "slow down", ref, retry_after=wait)
