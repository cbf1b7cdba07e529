"""The seed's stack, re-created: Flask + Flask-SocketIO + Flask-SQLAlchemy, one broadcast.

As in the seed document: a ``message`` event {nickname, message, date} is stored as a
``Message`` row and committed through Flask-SQLAlchemy, then emitted to everyone as
``response``. SQLite stands in for PostgreSQL.

Deployed as the seed's README deploys it (its Procfile: ``gunicorn -k eventlet app:app``, one
worker): ``gunicorn -k eventlet --bind 127.0.0.1:PORT
'benchmarks.baselines.seed_server:wsgi("PATH")'``; Flask-SocketIO then runs in its eventlet
mode (greenlets, eventlet's own websocket). ``python -m benchmarks.baselines.seed_server --db
PATH --port N`` runs it in the threading mode instead (Werkzeug, simple-websocket, one thread
per connection): the harness's ``seed-threading``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_socketio import SocketIO, emit  # type: ignore[import-untyped]
from flask_sqlalchemy import SQLAlchemy


def create_app(db_path: str, async_mode: str = "threading") -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "bench"
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    db = SQLAlchemy(app)

    class Message(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "messages"
        id = db.Column(db.Integer, primary_key=True)
        nickname = db.Column(db.String(50), nullable=False)
        body = db.Column(db.Text, nullable=False)
        created_at = db.Column(db.DateTime, nullable=False, default=datetime.utcnow)

    with app.app_context():
        db.create_all()

    socketio = SocketIO(app, async_mode=async_mode, logger=False, engineio_logger=False)

    @socketio.on("message")  # type: ignore[untyped-decorator]
    def handle_message(msg: dict[str, Any]) -> None:
        message = Message(
            nickname=msg["nickname"], body=msg["message"], created_at=datetime.now(UTC)
        )
        db.session.add(message)
        db.session.commit()
        emit("response", msg, broadcast=True)

    return app, socketio


def wsgi(db_path: str) -> Flask:
    """The app for gunicorn's eventlet worker (which has monkey-patched the standard
    library before importing this): Flask-SocketIO in its eventlet mode."""
    app, _socketio = create_app(db_path, "eventlet")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app, socketio = create_app(args.db)
    print(f"listening on ws://{args.host}:{args.port}/socket.io/", flush=True)
    socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True, log_output=False)


if __name__ == "__main__":
    main()
