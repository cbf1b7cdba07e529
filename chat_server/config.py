"""The server's settings: one frozen object built from flags and environment by cli.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import platformdirs

from chat_server import __version__


def default_db_path() -> Path:
    """The database a server uses when given none: ``chat.db`` in the user data dir."""
    return Path(platformdirs.user_data_dir("chat-server", appauthor=False)) / "chat.db"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything a running server needs to know; nothing else reads the environment."""

    host: str = "127.0.0.1"
    port: int = 8765
    db_path: Path = dataclasses.field(default_factory=default_db_path)
    synchronous: str = "full"
    # PostgreSQL instead of SQLite (postgresql://...), shared by every node of a chat.
    database_url: str | None = None
    db_pool_size: int = 10
    # Redis pub/sub for fan-out across nodes; presence entries expire after presence_ttl.
    redis_url: str | None = None
    redis_prefix: str = "chat"
    presence_ttl: float = 30.0
    certfile: Path | None = None
    keyfile: Path | None = None
    allow_origins: tuple[str, ...] = ()
    signup: bool = True
    token_ttl: float | None = None
    compression: str | None = None
    # sends per user (all of a user's connections on this node share one bucket)
    rate_per_second: float = 20.0
    rate_burst: int = 40
    # history, search, rooms and join per connection; search its own bucket besides
    read_rate: float = 10.0
    read_burst: int = 200
    search_rate: float = 1.0
    search_burst: int = 10
    # rooms a user may create by joining, in any hour; rooms a user may be a member of
    room_create_rate: int = 20
    max_rooms_per_user: int = 100
    max_buffer: int = 4 * 1024 * 1024
    hello_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    typing_interval: float = 3.0
    abuse_burst: int = 50
    abuse_per_second: float = 5.0
    login_throttle_base: float = 0.5
    login_throttle_max: float = 30.0
    hash_concurrency: int = 2
    revocation_check: float = 2.0
    batch_max: int = 512

    @property
    def server_name(self) -> str:
        return f"chat-server/{__version__}"
