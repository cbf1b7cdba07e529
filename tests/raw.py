"""Bare protocol helpers over a websockets connection, for tests of the real command.

They live in ``tests/support/raw.py``; this module keeps the names tests import from here.
"""

from __future__ import annotations

from tests.support.raw import TIMEOUT as TIMEOUT
from tests.support.raw import Frame as Frame
from tests.support.raw import expect as expect
from tests.support.raw import recv as recv
from tests.support.raw import request as request
