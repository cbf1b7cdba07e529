"""Fixtures of the black-box end-to-end suite: real chat-server subprocesses on 127.0.0.1.

``server``: one server for the whole session (tmp SQLite file); tests share it and keep out
of each other's way with unique nicks and rooms. ``server_factory``: a test's own servers
with extra flags. ``chat``: connections to the shared server, closed after the test (which
also fails if the server logged a traceback meanwhile). ``accounts``: shared accounts.
The helpers (Client, Chat, ...) are in ``e2e_support.py``.

Every test here talks to a ``chat-server serve`` subprocess, so every one is marked ``slow``
(pyproject's marker): ``pytest -m "not slow"`` leaves the suite out, a new module included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.e2e.e2e_support import AccountPool, Chat, ServerFactory, ServerProc, start_server

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    tmp: Path = tmp_path_factory.mktemp("chat-e2e")
    proc = start_server(tmp / "chat.db", tmp / "server.log")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def accounts(server: ServerProc) -> AccountPool:
    return AccountPool(server)


@pytest.fixture
def chat(server: ServerProc, accounts: AccountPool) -> Iterator[Chat]:
    if server.proc.poll() is not None:
        pytest.fail(f"the shared server exited ({server.proc.returncode}):\n{server.stderr_tail()}")
    harness = Chat(server, accounts)
    offset = server.log_offset()
    try:
        yield harness
    finally:
        harness.close_all()
    # A server that logs a traceback while serving this test's requests has a bug,
    # even when the client saw nothing wrong.
    logged = server.log_since(offset)
    if "Traceback" in logged:
        pytest.fail(f"the server logged a traceback during this test:\n{logged[-4000:]}")
