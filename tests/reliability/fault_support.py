"""Fault injectors of the storage and broker tests: a full disk, a read-only database file, a
private PostgreSQL cluster that can be stopped and started, and a kill -9 of a private Redis.

Each injector makes the real fault the operating system or the service would produce (ENOSPC
from a size-limited tmpfs, EPERM from an immutable file, a refused connection from a stopped
postmaster), never a flag inside the server. Each one skips its test with the reason when the
machine cannot make the fault (no mount privilege, a filesystem without ``chattr +i``, no
PostgreSQL binaries); a missing service (PostgreSQL's binaries) fails it instead under
``CHAT_TEST_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import WAIT, free_port
from tests.scale.cluster import PrivateRedis


def unavailable(reason: str, service: bool = True) -> None:
    """Skip the test, or fail it where the CI promised every service. A missing privilege
    (mounting, ``chattr``: a container without CAP_SYS_ADMIN, a filesystem without
    attributes) always skips: no service is missing, the machine cannot make that fault."""
    if service and os.environ.get("CHAT_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _run(*command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    if user is not None and os.geteuid() == 0:
        command = ("runuser", "-u", user, "--", *command)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


# --- a disk that fills up ------------------------------------------------------------------


class SmallDisk:
    """A size-limited tmpfs mounted on a directory of the test's own: the real ENOSPC.

    ``fill()`` takes every free byte with a ballast file, ``free()`` deletes it, as an
    operator clearing a full disk would.
    """

    def __init__(self, where: Path, size_mb: int) -> None:
        self.path = where
        self.size_mb = size_mb
        self.ballast = where / "ballast"
        self.mounted = False

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = _run("mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs",
                    str(self.path))  # fmt: skip
        if done.returncode != 0:
            reason = f"cannot mount a small tmpfs (needs root): {done.stderr.strip()}"
            unavailable(reason, service=False)
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            _run("umount", "-l", str(self.path))
            self.mounted = False

    def fill(self) -> int:
        """Write the ballast until the filesystem says ENOSPC; the bytes it took."""
        written = 0
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):  # down to the last byte
                chunk = b"\0" * size
                while True:
                    try:
                        written += os.write(fd, chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int = 16) -> Iterator[SmallDisk]:
    disk = SmallDisk(where, size_mb)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()


# --- a database file that becomes read-only ---------------------------------------------------


class Immutable:
    """``chattr +i`` on the database files: even root's writes through open descriptors fail
    (EPERM), which chmod cannot do to a root process. ``-shm`` is left alone: it is mapped
    into memory, and a write fault there would be SIGBUS, not an error SQLite can report."""

    def __init__(self, db: Path) -> None:
        self.files = [db, Path(f"{db}-wal")]
        self.set = False

    def __enter__(self) -> Immutable:
        for path in self.files:
            done = _run("chattr", "+i", str(path))
            if done.returncode != 0:
                self.__exit__()
                unavailable(f"chattr +i does not work here: {done.stderr.strip()}", service=False)
        self.set = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        for path in self.files:
            _run("chattr", "-i", str(path))
        self.set = False


# --- a PostgreSQL cluster of the test's own ------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivatePostgres:
    """``initdb`` into a temporary directory, ``pg_ctl`` on a free port (127.0.0.1 only).

    PostgreSQL refuses to run as root, so under root the cluster belongs to the
    ``postgres`` user. ``stop()`` is a fast shutdown (what ``systemctl stop`` does),
    ``crash()`` an immediate one.
    """

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        assert initdb is not None and pg_ctl is not None
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user for initdb")
            self.user = "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="chat-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if self.user is not None:
            shutil.chown(self.dir, self.user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        done = _run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                    "--no-sync", "-E", "UTF8", user=self.user)  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"initdb failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c max_connections=50")  # fmt: skip
        done = _run(self.pg_ctl, "-D", str(self.data), "-l", str(self.dir / "log"), "-o",
                    options, "-w", "-t", "60", "start", user=self.user)  # fmt: skip
        if done.returncode != 0:
            log = (self.dir / "log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")

    def stop(self, mode: str = "fast") -> None:
        _run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
             user=self.user)  # fmt: skip

    def accepts(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


# --- Redis killed with SIGKILL ----------------------------------------------------------------


def kill9(redis: PrivateRedis) -> None:
    """SIGKILL the private redis-server (no shutdown, no goodbye to its clients)."""
    assert redis.proc is not None
    redis.proc.send_signal(signal.SIGKILL)
    redis.proc.wait(WAIT)
    redis.proc = None
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:  # the port is free again once the kernel says so
        try:
            with socket.create_connection(("127.0.0.1", redis.port), 0.2):
                pass
        except OSError:
            return
        time.sleep(0.05)
