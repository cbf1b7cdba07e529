"""The SQLite schema: ordered migrations, each applied in one transaction and recorded."""

from __future__ import annotations

import contextlib
import sqlite3

from chat_server.protocol import now_ts

# Ordered migrations; each runs in one transaction and is recorded in schema_migrations.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            nick TEXT NOT NULL,
            nick_key TEXT NOT NULL UNIQUE,
            password_hash TEXT,
            created_at TEXT NOT NULL,
            removed_at TEXT
        )""",
        """CREATE TABLE tokens (
            hash BLOB PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at REAL
        )""",
        "CREATE INDEX tokens_user ON tokens(user_id)",
        """CREATE TABLE rooms (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            is_dm INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE memberships (
            user_id INTEGER NOT NULL REFERENCES users(id),
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            read_seq INTEGER NOT NULL DEFAULT 0,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (user_id, room_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX memberships_room ON memberships(room_id)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            seq INTEGER NOT NULL,
            author_id INTEGER NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            client_id TEXT NOT NULL,
            body TEXT NOT NULL,
            ts TEXT NOT NULL,
            UNIQUE (room_id, seq),
            UNIQUE (author_id, client_id)
        )""",
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            body, content='messages', content_rowid='id'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
        END""",
    ),
    # A commit writes every index page a batch touches. The idempotency index now leads
    # with the key, which our clients make time-ordered, so new keys land on the last page
    # instead of one page per author; the search index is filled by the writer in bulk
    # (see ``index_search``) instead of by a trigger on every insert. SQLite cannot drop a
    # table constraint, so the table is rebuilt (ids kept: they are the search rowids).
    (
        "DROP TRIGGER messages_fts_insert",
        """CREATE TABLE messages_v2 (
            id INTEGER PRIMARY KEY,
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            seq INTEGER NOT NULL,
            author_id INTEGER NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            client_id TEXT NOT NULL,
            body TEXT NOT NULL,
            ts TEXT NOT NULL,
            UNIQUE (room_id, seq),
            UNIQUE (client_id, author_id)
        )""",
        "INSERT INTO messages_v2 SELECT id, room_id, seq, author_id, nick, client_id, body, ts"
        " FROM messages ORDER BY id",
        "DROP TABLE messages",
        "ALTER TABLE messages_v2 RENAME TO messages",
        "CREATE TABLE search_indexed (upto INTEGER NOT NULL)",
        "INSERT INTO search_indexed (upto) SELECT COALESCE(MAX(id), 0) FROM messages",
    ),
    # Results are ordered by id, never ranked, so the index keeps no per-message column
    # sizes (bm25's input): one B-tree insert fewer per message. The writer refills the
    # new index from the messages when the server opens the database.
    (
        "DROP TABLE messages_fts",
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            body, content='messages', content_rowid='id', columnsize=0
        )""",
        "UPDATE search_indexed SET upto = 0",
    ),
    # Revocation within 200 ms on every server: any deleted token (logout, a password
    # change, `tokens revoke` or `users remove` from the command line) bumps one counter
    # that the servers poll; a server sweeps its connections only when it moved.
    (
        """CREATE TABLE revocations (
            id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL
        )""",
        "INSERT INTO revocations (id, version) VALUES (1, 0)",
        """CREATE TRIGGER tokens_revoked AFTER DELETE ON tokens BEGIN
            UPDATE revocations SET version = version + 1 WHERE id = 1;
        END""",
    ),
    # Limits per user and the rooms list by size: who created a room by joining it (the
    # creation rate counts those), and each room's member count, kept by triggers on every
    # change of memberships, so a page of the list is a walk along an index.
    (
        "ALTER TABLE rooms ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE rooms ADD COLUMN created_by INTEGER REFERENCES users(id)",
        "UPDATE rooms SET member_count ="
        " (SELECT COUNT(*) FROM memberships m WHERE m.room_id = rooms.id)",
        """CREATE TRIGGER memberships_count_insert AFTER INSERT ON memberships BEGIN
            UPDATE rooms SET member_count = member_count + 1 WHERE id = new.room_id;
        END""",
        """CREATE TRIGGER memberships_count_delete AFTER DELETE ON memberships BEGIN
            UPDATE rooms SET member_count = member_count - 1 WHERE id = old.room_id;
        END""",
        "CREATE INDEX rooms_by_size ON rooms(member_count DESC, name) WHERE is_dm = 0",
        "CREATE INDEX rooms_created_by ON rooms(created_by, created_at)"
        " WHERE created_by IS NOT NULL",
    ),
    # Direct conversations by consent. ``wrote``: the member has sent a message in the
    # room since joining it (a person's presence shows in a DM only then); it is set by
    # the statement that already moves the sender's read marker, so it costs a send
    # nothing (``read_seq`` itself cannot say it: reading moves it too). ``blocks``: who
    # refuses whose direct messages; looked up both ways.
    (
        "ALTER TABLE memberships ADD COLUMN wrote INTEGER NOT NULL DEFAULT 0",
        "UPDATE memberships SET wrote = 1 WHERE (user_id, room_id) IN"
        " (SELECT DISTINCT author_id, room_id FROM messages)",
        """CREATE TABLE blocks (
            user_id INTEGER NOT NULL REFERENCES users(id),
            blocked_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (user_id, blocked_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX blocks_blocked ON blocks(blocked_id, user_id)",
    ),
    # Protocol 2: a room is a log. Edits and deletes are rows of ``messages`` too (``kind``
    # 1 and 2, ``target`` the seq of the message they change), so they take the room's
    # next seq and ``history after`` returns them. A message row holds its current state
    # (``body``, ``edited``, ``deleted``, ``version``: the seq of the last change). A send
    # sets none of the new columns (defaults), and the index of a message's changes holds
    # change rows alone (partial), so it costs a send nothing. ``purge``: the search index
    # holds removed text in its segments until they are merged (see ``changes.py``).
    (
        "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN target INTEGER",
        "ALTER TABLE messages ADD COLUMN edited TEXT",
        "ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN version INTEGER",
        "ALTER TABLE messages ADD COLUMN reason TEXT",
        "CREATE INDEX messages_changes ON messages(room_id, target, kind) WHERE target IS NOT NULL",
        "ALTER TABLE search_indexed ADD COLUMN purge INTEGER NOT NULL DEFAULT 0",
    ),
    # Replies, threads and reactions. A reply stores ``reply_to`` and ``thread`` (its
    # root's seq); a root counts its ``replies``; the index finds a thread's messages. A
    # reaction is an entry (kind 3, or 4 when taken back; ``body`` holds the emoji) and,
    # while it stands, a row of ``reactions``: its entry's seq orders the nicks, ``since``
    # (the seq from which the emoji has been on the message without a break) the emoji. Every row
    # with more than protocol 1's fields has a ``version`` (a change entry its own seq),
    # so a history page reads the details of those rows alone (``pages.py``).
    (
        "ALTER TABLE messages ADD COLUMN reply_to INTEGER",
        "ALTER TABLE messages ADD COLUMN thread INTEGER",
        "ALTER TABLE messages ADD COLUMN replies INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX messages_thread ON messages(room_id, thread, seq) WHERE thread IS NOT NULL",
        "UPDATE messages SET version = seq WHERE target IS NOT NULL AND version IS NULL",
        """CREATE TABLE reactions (
            message_id INTEGER NOT NULL REFERENCES messages(id),
            emoji TEXT NOT NULL,
            user_id INTEGER NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            seq INTEGER NOT NULL,
            since INTEGER NOT NULL,
            PRIMARY KEY (message_id, emoji, user_id)
        ) WITHOUT ROWID""",
    ),
    # Server admins: a flag on the account (``chat-server users admin NICK [--revoke]``).
    # An admin may delete anyone's message in a room they are a member of; the writer reads
    # the flag in the change's transaction, so a revocation holds from the next delete on.
    ("ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",),
    # Rooms with owners (protocol 2): a room is ``private`` (never listed, joined by
    # invitation) or not, has a ``topic``, and its creator (``created_by``, kept since the
    # per-user limits) is its first owner; a membership has a ``role`` (owner, op, member)
    # that ends with it, and ``joined_at`` orders who takes over when the owner leaves.
    # ``room_bans`` keep people out, ``room_invites`` let them into a private room.
    (
        "ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'",
        "UPDATE memberships SET role = 'owner' WHERE (user_id, room_id) IN"
        " (SELECT created_by, id FROM rooms WHERE created_by IS NOT NULL AND is_dm = 0)",
        "CREATE INDEX memberships_succession ON memberships(room_id, joined_at)",
        "DROP INDEX rooms_by_size",
        "CREATE INDEX rooms_by_size ON rooms(member_count DESC, name)"
        " WHERE is_dm = 0 AND private = 0",
        """CREATE TABLE room_bans (
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            by_id INTEGER NOT NULL REFERENCES users(id),
            reason TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE room_invites (
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            by_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX room_invites_user ON room_invites(user_id, created_at)",
    ),
    # Invite codes (``chat-server invites``, ``serve --signup invite``): only a code's
    # SHA-256 is kept, and its first characters for people to tell codes apart. A signup
    # takes a use in the transaction that creates the account (``used < uses``), so two
    # signups at once cannot both take a code's last use. ``rooms``: the names the new
    # account joins, space-separated (room names hold no space).
    (
        """CREATE TABLE invites (
            hash BLOB PRIMARY KEY,
            prefix TEXT NOT NULL,
            uses INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0,
            expires_at REAL,
            rooms TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
    ),
    # Retention (``serve --retention``, ``chat-server rooms retention``): ``floor`` is the
    # room's first seq still stored (entries below it were pruned); ``retention_s`` the
    # room's own limit in seconds (NULL: the server's, 0: keep forever).
    (
        "ALTER TABLE rooms ADD COLUMN floor INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE rooms ADD COLUMN retention_s INTEGER",
    ),
    # A room's members a page at a time (``members``, and the first page a ``joined``
    # lists): a membership keeps its user's ``nick_key`` (a nick never changes), set by a
    # trigger on every insert, so a page is a walk along (room_id, nick_key) whatever the
    # room's size, never a sort of the whole room.
    (
        "ALTER TABLE memberships ADD COLUMN nick_key TEXT",
        "UPDATE memberships SET nick_key ="
        " (SELECT u.nick_key FROM users u WHERE u.id = memberships.user_id)",
        """CREATE TRIGGER memberships_nick_key AFTER INSERT ON memberships BEGIN
            UPDATE memberships SET nick_key = (SELECT nick_key FROM users WHERE id = new.user_id)
            WHERE user_id = new.user_id AND room_id = new.room_id;
        END""",
        "CREATE INDEX memberships_by_nick ON memberships(room_id, nick_key)",
    ),
    # A join reads the room's owner and ops (``FACTS_SQL``): along an index of the members
    # with a role only, not a walk over every member (8 ms a join in a room of 10,000).
    ("CREATE INDEX memberships_roles ON memberships(room_id) WHERE role <> 'member'",),
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations the database has not seen, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    current = row[0] if row else 0
    for version, statements in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, now_ts()),
            )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
