"""The cli-send baseline: the least a script can do to post one message to chat.

Connect, ``hello`` with a token, ``join``, ``send``, wait for the ``ack``, exit.
Usage: ``python benchmarks/baselines/minimal_send.py URL TOKEN ROOM MESSAGE``.
"""

import json
import sys
import uuid

from websockets.sync.client import connect


def main(url: str, token: str, room: str, body: str) -> int:
    with connect(url, compression=None, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        ws.send(json.dumps({"type": "join", "room": room}))
        key = uuid.uuid4().hex
        ws.send(json.dumps({"type": "send", "room": room, "body": body, "id": key}))
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "error":
                print(frame["message"], file=sys.stderr)
                return 5
            if frame["type"] == "ack" and frame["id"] == key:
                return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
