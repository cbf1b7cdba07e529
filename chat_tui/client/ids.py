"""Idempotency keys for ``send``: unique, time-ordered, cheap to import (scripts import this)."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A fresh idempotency key for ``send``: the time in microseconds (13 hex digits), then
    64 random bits (16 hex digits); the protocol allows 64 characters.

    Keys that sort by time are the cheap ones for the server: each lands at the end of its
    key index instead of on a page of its own. ``os.urandom`` is the source ``secrets``
    uses, without the modules ``secrets`` imports.
    """
    return f"{time.time_ns() // 1000:013x}{os.urandom(8).hex()}"
