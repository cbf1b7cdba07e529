"""The server's settings: one frozen object built from flags and environment by cli_serve.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import platformdirs

from chat_server import __version__
from chat_server.ratelimit import Allowance

# The defaults of the limits on logins (README, "Configuration", says why these numbers).
LOGIN_FAILURES = Allowance(10, 15 * 60.0)  # per address: a forgetful person never meets it
NICK_FAILURES = Allowance(5, 15 * 60.0)  # per nick, for addresses that failed recently
SIGNUP_RATE = Allowance(5, 3600.0)  # per address: a household at once, not a bot farm
# per connection: errors tolerated before it is closed 1008 (50 at once, then 5 a second)
BAD_FRAMES = Allowance(50, 10.0)
# per user: old-password checks of ``password`` (3 at once, then one every 5 s); each costs
# a hash, and a stolen session could guess the password with them
PASSWORD_TRIES = Allowance(3, 15.0)


Signup = Literal["open", "invite", "closed"]
SIGNUP_MODES: tuple[Signup, ...] = ("open", "invite", "closed")


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
    # the address people reach the server at (http(s)://host[:port]): browsers' Origin
    public_url: str | None = None
    # who may create an account with a hello: anyone (open), the holders of an invite code
    # (invite: ``chat-server invites create``), or nobody (closed: ``chat-server users add``)
    signup: Signup = "open"
    token_ttl: float | None = None
    # seconds after sending that its author may edit a message; None: no limit
    edit_window: float | None = None
    compression: str | None = None
    # sends per user (all of a user's connections on this node share one bucket)
    rate_per_second: float = 20.0
    rate_burst: int = 40
    # history, search, rooms and join per connection; search its own bucket besides
    read_rate: float = 10.0
    read_burst: int = 200
    # bytes of history pages and search results per second per user, and in a burst
    read_bytes_rate: int = 4 * 1024 * 1024
    read_bytes_burst: int = 16 * 1024 * 1024
    search_rate: float = 1.0
    search_burst: int = 10
    # seconds a search's query may run before it is stopped (one at a time per user)
    search_timeout: float = 2.0
    # rooms a user may create by joining, in any hour; rooms a user may be a member of
    room_create_rate: int = 20
    max_rooms_per_user: int = 100
    # people a user may block; welcome lists them, so this also bounds the welcome
    max_blocks_per_user: int = 1000
    max_buffer: int = 4 * 1024 * 1024
    # unsent bytes to all connections together: big replies (history, search) are cut, then
    # refused (rate_limited), past it
    max_pending_output: int = 64 * 1024 * 1024
    hello_timeout: float = 10.0
    # Connection caps (chat_server/admission.py); max_connections is lowered at start to fit
    # under the process's file-descriptor limit.
    max_connections: int = 10_000
    max_connections_per_address: int = 1000
    max_pending_per_address: int = 64
    max_logging_in: int = 512
    max_connections_per_user: int = 32
    handshake_timeout: float = 5.0
    # proxies whose X-Forwarded-For names the client (CIDR networks or addresses)
    trusted_proxies: tuple[str, ...] = ()
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    typing_interval: float = 3.0
    # GET /metrics (Prometheus text format) on the same port; 404 without
    metrics: bool = False
    # errors (``rate_limited`` aside) a connection may earn before it is closed 1008
    bad_frames: Allowance = BAD_FRAMES
    # old-password checks of ``password``, the user's across their connections on this node
    password_tries: Allowance = PASSWORD_TRIES
    # Failed password logins: per address, and per nick for addresses that failed recently
    # (chat_server/attempts.py); signups per address. Over a limit: rate_limited, then 1008.
    login_failures: Allowance = LOGIN_FAILURES
    nick_failures: Allowance = NICK_FAILURES
    signup_rate: Allowance = SIGNUP_RATE
    # argon2 runs hash_concurrency at a time; at most hash_queue wait (logins before signups).
    # One slot is kept for logins from addresses with no recent failure (chat_server/slots.py).
    hash_concurrency: int = 2
    # password checks (logins and signups) in flight at once from one address
    hashes_per_address: int = 1
    # sockets an address may open before the wait its refused hello was told is over; past
    # it they are closed at accept until then (chat_server/penalties.py; 0: never)
    max_early_returns: int = 10
    # a revoked token's connections close within revocation_poll (plus one query) on every
    # node; expired tokens (--token-ttl) are checked every revocation_check
    revocation_poll: float = 0.1
    hash_queue: int = 32
    revocation_check: float = 2.0
    batch_max: int = 512
    # entries are erased this many seconds after they were made (None: kept forever; a
    # room may say otherwise); the pruning task looks every retention_interval seconds and
    # waits retention_pause between two of its writes (``retention.py``)
    retention: float | None = None
    retention_interval: float = 60.0
    retention_pause: float = 0.01

    @property
    def server_name(self) -> str:
        return f"chat-server/{__version__}"
