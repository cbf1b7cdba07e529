"""``--certfile/--keyfile``: the same chat over wss://."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.conftest import ServerFactory

pytestmark = pytest.mark.slow  # openssl makes the certificate in a subprocess


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_wss_with_a_certificate(
    make_server: ServerFactory, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server = await make_server(certfile=cert, keyfile=key)
    assert server.url.startswith("wss://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    async with connect(server.url, ssl=context) as ws:
        await ws.send(json.dumps({"type": "hello", "nick": "alice", "password": "pw"}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["nick"] == "alice"
