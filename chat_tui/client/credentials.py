"""Session tokens per server URL, kept in the user's config dir in a file only they can read.

The file is ``credentials.json`` under ``platformdirs.user_config_dir("chat-tui")`` (on Linux
``$XDG_CONFIG_HOME/chat-tui``, else ``~/.config/chat-tui``). It is written atomically (a temporary
file in the same directory, fsynced, then renamed over the old one) with mode 0600, so a crash
never leaves half a file and other users never see a token.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chat_tui.client.errors import ClientError, ConnectError

FILE_NAME = "credentials.json"
DEFAULT_URL = "ws://127.0.0.1:8765/ws"


class CredentialsError(ClientError):
    """The credentials file cannot be read or written (exit code 2, as for a usage error: the
    file is the user's to mend, the server has no part in it)."""

    exit_code = 2


class BadAddress(ConnectError):
    """The server address cannot be a websocket URL (exit code 3, as for an unreachable one)."""


def config_dir() -> Path:
    import platformdirs  # imported on first use: `chat-tui send --token` never needs it

    return Path(platformdirs.user_config_dir("chat-tui", appauthor=False))


def credentials_path() -> Path:
    return config_dir() / FILE_NAME


def normalize_url(url: str) -> str:
    """The canonical form of a server address: ``host:port`` becomes ``ws://host:port/ws``.

    ``http(s)://`` is accepted for ``ws(s)://`` (people paste the web client's address), and a
    missing path means the server's ``/ws`` endpoint.

    Anything else (another scheme, no host, a port that is not a number from 1 to 65535) is
    :class:`BadAddress`, before anything connects or prompts for a password.
    """
    given = url.strip()
    url = given if "://" in given else "ws://" + given
    bad = BadAddress(f"not a server address: {given!r} (expected host:port or ws://host:port/ws)")
    try:  # an unclosed IPv6 bracket ("ws://[::1/ws"), a port that is no number ("host:80x")
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("ws", "wss") or not parts.hostname or port == 0:
        raise bad
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc.lower(), path, parts.query, ""))


def _load() -> dict[str, Any]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from exc
    servers = data.get("servers") if isinstance(data, dict) else None
    return servers if isinstance(servers, dict) else {}


def _store(servers: dict[str, Any]) -> None:
    directory = config_dir()
    try:
        import tempfile  # only `login` writes: keep `send` light

        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"servers": servers}, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, directory / FILE_NAME)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise CredentialsError(f"cannot write {directory / FILE_NAME}: {exc}") from exc


def load(url: str) -> tuple[str, str] | None:
    """The (nick, token) stored for ``url``, if any."""
    entry = _load().get(normalize_url(url))
    if isinstance(entry, dict) and isinstance(entry.get("token"), str):
        return str(entry.get("nick", "")), entry["token"]
    return None


def load_token(url: str) -> str | None:
    stored = load(url)
    return stored[1] if stored else None


def save_token(url: str, nick: str, token: str) -> None:
    servers = _load()
    servers[normalize_url(url)] = {"nick": nick, "token": token}
    _store(servers)


def remove_token(url: str) -> bool:
    """Forget the token for ``url``; say whether there was one."""
    servers = _load()
    if servers.pop(normalize_url(url), None) is None:
        return False
    _store(servers)
    return True
