"""One server needs no PostgreSQL or Redis driver: without the ``scale`` extra, asking
for them is one clear line, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat_server.cli import main
from chat_server.config import Settings
from chat_server.server import StartupError, start

NEEDS_SCALE = r"pip install 'chat\[scale\]'"


def without(monkeypatch: pytest.MonkeyPatch, driver: str, module: str) -> None:
    """As if ``driver`` were not installed (and our module using it never imported)."""
    for name in [driver, *(n for n in sys.modules if n.startswith(f"{driver}."))]:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    monkeypatch.delitem(sys.modules, module, raising=False)


async def test_postgres_without_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, "asyncpg", "chat_server.store.postgres.store")
    settings = Settings(port=0, database_url="postgresql://chat@127.0.0.1:5432/chat")
    with pytest.raises(StartupError, match=f"PostgreSQL needs asyncpg: {NEEDS_SCALE}"):
        await start(settings)


async def test_redis_without_the_redis_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without(monkeypatch, "redis", "chat_server.broker.redis")
    settings = Settings(port=0, db_path=tmp_path / "chat.db", redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(StartupError, match=f"Redis needs redis: {NEEDS_SCALE}"):
        await start(settings)


def test_the_admin_commands_say_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    without(monkeypatch, "asyncpg", "chat_server.store.postgres.store")
    url = "postgresql://chat@127.0.0.1:5432/chat"
    result = CliRunner().invoke(main, ["users", "list", "--database-url", url])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: PostgreSQL needs asyncpg: pip install 'chat[scale]'")
