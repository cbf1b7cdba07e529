"""The runtime policy comes with the server, so in-process tests run what production runs."""

from __future__ import annotations

import asyncio
import gc

import uvloop

from chat_server.runtime import GC_THRESHOLDS
from tests.conftest import ChatServerUnderTest


async def test_a_server_started_in_process_runs_the_production_policy(
    server: ChatServerUnderTest,
) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's view
