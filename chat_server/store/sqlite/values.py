"""Statements over VALUES tables: a run's rows in one statement each, in a few sizes.

The writer's statements take all the rows of a run at once (a VALUES table, one step
each), so its thread leaves and retakes the GIL a few times per batch instead of once per
row. Used by the runs of messages (``batch.py``) and of changes (``change_runs.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

# Rows per statement, at most: 12 parameters each stays well under SQLite's limit of 32766.
_CHUNK = 256
# Up to this many rows go in one statement of their exact size; more, in multiples of it.
_SMALL = 16
# The VALUES templates the writer runs: the runs of messages' four and the runs of changes'
# eight (``batch.py``, ``change_runs.py``).
TEMPLATES = 12
# Statements the writer connection keeps compiled: every size of every VALUES template
# (``chunk_sizes``: at most 31 per template), and the rest.
STATEMENT_CACHE = 512


def values_sql(template: str, rows: int, width: int = 2) -> str:
    """``template`` with its VALUES list holding ``rows`` rows of ``width`` placeholders."""
    row = "(" + ",".join("?" * width) + ")"
    return template.format(values=",".join([row] * rows))


def chunk_sizes(rows: int) -> Iterator[int]:
    """How many rows each statement of a run of ``rows`` takes: up to ``_SMALL`` rows in
    one statement of that size, more in a multiple of ``_SMALL`` first (250 rows: 240,
    then 10), at most ``_CHUNK`` at a time.

    Compiling a statement of a few hundred parameters costs more than running it. With
    any row count allowed, each template would have hundreds of texts, more than the
    connection's statement cache holds, and most batches would compile theirs anew; this
    way a template has at most 31 texts, every one stays cached (``STATEMENT_CACHE``), and
    a batch takes two statements per template, three past 256 rows.
    """
    while rows:
        size = rows if rows <= _SMALL else min(_CHUNK, rows - rows % _SMALL)
        yield size
        rows -= size


def chunks(
    conn: sqlite3.Connection, template: str, rows: Sequence[tuple[Any, ...]]
) -> Iterator[sqlite3.Cursor]:
    """Run ``template`` over ``rows`` in the chunks of ``chunk_sizes``; yields each
    statement's cursor."""
    start = 0
    for size in chunk_sizes(len(rows)):
        chunk = rows[start : start + size]
        start += size
        params = [value for row in chunk for value in row]
        yield conn.execute(values_sql(template, size, len(chunk[0])), params)


def each_row(
    conn: sqlite3.Connection, template: str, rows: Sequence[tuple[Any, ...]]
) -> Iterator[Any]:
    """The rows the statements of ``chunks`` return."""
    for cursor in chunks(conn, template, rows):
        yield from cursor
