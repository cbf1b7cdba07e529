"""Database files are the server's user's alone: what ``ls -l`` shows after the server, ``users
add`` and ``backup`` created them (a directory 0700, files 0600), under a umask of 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat_server.cli import main
from tests.conftest import ServerFactory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in sorted(directory.iterdir())}


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The usual umask, which alone would make every new file 0644, world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def test_the_server_creates_a_private_directory_and_files(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    server = await make_server(db_path=data / "chat.db")
    async with server.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", "a private word", "m1")
        assert mode(data) == 0o700
        assert modes(data) == {"chat.db": 0o600, "chat.db-shm": 0o600, "chat.db-wal": 0o600}
    await server.running.stop()
    assert mode(data) == 0o700
    assert set(modes(data).values()) == {0o600}


async def test_a_directory_the_server_did_not_create_is_left_as_it_is(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    await make_server(db_path=shared / "chat.db")
    assert mode(shared) == 0o755
    assert mode(shared / "chat.db") == 0o600


def test_users_add_creates_a_private_database(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    result = CliRunner().invoke(
        main, ["users", "add", "admin", "--db", str(data / "chat.db")], env={"CHAT_PASSWORD": "pw"}
    )
    assert result.exit_code == 0, result.output
    assert mode(data) == 0o700
    assert modes(data) == {"chat.db": 0o600}


async def test_a_backup_is_private(make_server: ServerFactory, tmp_path: Path) -> None:
    server = await make_server()
    async with server.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", "worth keeping", "m1")
        copy = tmp_path / "copy.db"
        result = CliRunner().invoke(
            main, ["backup", str(copy), "--db", str(server.settings.db_path)]
        )
        assert result.exit_code == 0, result.output
    names = ("chat.db", "chat.db-shm", "chat.db-wal", "copy.db")  # no -journal left over
    assert modes(tmp_path) == dict.fromkeys(names, 0o600)


def test_a_backup_refuses_an_existing_file_and_a_missing_directory(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    added = CliRunner().invoke(
        main, ["users", "add", "admin", "--db", str(db)], env={"CHAT_PASSWORD": "pw"}
    )
    assert added.exit_code == 0, added.output
    taken = tmp_path / "taken.db"
    taken.write_text("keep me\n")
    result = CliRunner().invoke(main, ["backup", str(taken), "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == f"Error: {taken} exists already\n"
    assert taken.read_text() == "keep me\n"
    nowhere = tmp_path / "missing" / "copy.db"
    result = CliRunner().invoke(main, ["backup", str(nowhere), "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == f"Error: cannot create {nowhere}: No such file or directory\n"
    assert not nowhere.parent.exists()
