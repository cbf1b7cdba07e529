"""Idempotency keys for ``send``: random, short, and cheap to import (scripts import this)."""

from __future__ import annotations

import os


def new_id() -> str:
    """A fresh idempotency key for ``send`` (24 hex characters; the protocol allows 64).

    ``os.urandom`` is the source ``secrets`` uses, without the modules ``secrets`` imports.
    """
    return os.urandom(12).hex()
