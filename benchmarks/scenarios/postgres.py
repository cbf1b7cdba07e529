"""Scenarios of chat on PostgreSQL alone (no Redis): durable sends against one commit per
message (``persist-pg``).

Each system gets a fresh schema of its own in ``CHAT_BENCH_DATABASE_URL`` (chat's migrated by
``chat-server db migrate``, with its accounts; the baseline's empty: it makes its own table),
dropped at the end. PostgreSQL runs unpinned beside the servers: ``server_cpu_pct`` is the
server process's alone, not PostgreSQL's.
"""

from __future__ import annotations

import contextlib
import os

from benchmarks.harness.context import Context, Rig
from benchmarks.scenarios.scenario_nodes import DATABASE_ENV, DEFAULT_DATABASE, Backing, unreachable
from benchmarks.scenarios.traffic import PERSIST_WINDOWS, senders_on

PERSIST_SENDERS = 50


def database_url(ctx: Context, scenario: str, url: str | None = None) -> str | None:
    """The PostgreSQL server's URL (``url``, else the environment's), or None (the reason
    logged) when it does not answer."""
    url = url or os.environ.get(DATABASE_ENV, DEFAULT_DATABASE)
    reason = unreachable(url, "")
    if reason:
        ctx.log(f"{scenario}: skipped: {reason}")
        return None
    return url


def persist_pg(
    ctx: Context, senders: int = PERSIST_SENDERS, url: str | None = None
) -> list[Backing]:
    """persist-pg: persist's senders and windows, chat on PostgreSQL against
    ``pg-per-commit`` (``commit_server --database-url``: a transaction per message).
    Returns the schemas it used (dropped)."""
    scenario = "persist-pg"
    url = database_url(ctx, scenario, url)
    if url is None:
        return []
    rooms = [f"persist-{i}" for i in range(senders)]
    chat, baseline = Backing(url, ""), Backing(url, "")
    with contextlib.ExitStack() as stack:
        stack.callback(chat.drop)
        tokens = chat.create(senders)
        stack.callback(baseline.drop)
        baseline.create_schema()
        rigs = []
        for system, served, backing in (
            ("pg-per-commit", "pg-per-commit", baseline),
            ("chat", "chat-pg", chat),
        ):
            server = stack.enter_context(
                ctx.server(scenario, served, None, database_url=backing.url)
            )
            [senders_proc] = stack.enter_context(
                ctx.workers(scenario, system, server.port, "senders")
            )
            rigs.append(Rig(system, server, None, senders_proc))
        accounts = {"chat": tokens, "pg-per-commit": tokens}
        senders_on(ctx, scenario, rigs, accounts, rooms, PERSIST_WINDOWS)
    return [chat, baseline]
