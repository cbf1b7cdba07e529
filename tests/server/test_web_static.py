"""The web client's files over HTTP: content types, caching, security headers, nothing else."""

from __future__ import annotations

import asyncio
import http.client
import re
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request

from chat_server.http import (
    WEB_DIR,
    WEB_FILES,
    WEB_MODULES,
    content_security_policy,
    load_web_files,
    origin_allowed,
    own_origins,
    web_response,
)
from tests.conftest import ChatServerUnderTest


def fetch(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


async def get(
    server: ChatServerUnderTest, path: str, method: str = "GET", **headers: str
) -> tuple[int, http.client.HTTPMessage, bytes]:
    return await asyncio.to_thread(fetch, server.running.port, path, method, headers)


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/", "text/html; charset=utf-8", b"<!doctype html>"),
        ("/app.js", "text/javascript; charset=utf-8", b'from "./connection.js"'),
        ("/connection.js", "text/javascript; charset=utf-8", b"new WebSocket("),
        ("/ordering.js", "text/javascript; charset=utf-8", b"export class Sequencer"),
        ("/style.css", "text/css; charset=utf-8", b"@media (max-width"),
    ],
)
async def test_web_files_are_served_with_their_type(
    server: ChatServerUnderTest, path: str, content_type: str, marker: bytes
) -> None:
    status, headers, body = await get(server, path)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert marker in body
    assert int(headers["Content-Length"]) == len(body)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', headers["ETag"])


async def test_the_page_has_a_strict_content_security_policy(server: ChatServerUnderTest) -> None:
    status, headers, _ = await get(server, "/")
    assert status == 200
    host = f"127.0.0.1:{server.running.port}"
    directives = (d.partition(" ") for d in headers["Content-Security-Policy"].split("; "))
    policy = {name: value for name, _, value in directives}
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"  # innerHTML would throw
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("name", WEB_MODULES)
async def test_every_module_is_served_as_javascript_under_the_page_policy(
    server: ChatServerUnderTest, name: str
) -> None:
    _, page, _ = await get(server, "/")
    status, headers, body = await get(server, f"/{name}")
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"  # modules need a JS type
    assert body == (WEB_DIR / name).read_bytes()
    assert headers["Content-Security-Policy"] == page["Content-Security-Policy"]
    assert "require-trusted-types-for 'script'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', headers["ETag"])


def test_the_served_modules_are_the_page_s_module_graph() -> None:
    """Every .js file in the folder is served, and app.js imports (transitively) exactly those."""
    assert sorted(WEB_MODULES) == sorted(p.name for p in WEB_DIR.glob("*.js"))
    page = (WEB_DIR / "index.html").read_text()
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/app.js">']
    reached: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        reached.add(name)
        source = (WEB_DIR / name).read_text()
        assert "import(" not in source  # no dynamic imports: the graph is what the table serves
        assert len(source.splitlines()) < 500, f"{name} holds more than one job"
        statements = re.findall(r"^import\b[^;]*;", source, re.M)
        for statement in statements:
            spec = re.fullmatch(r'import [^;]*? from "(\./[a-z]+\.js)";', statement, re.S)
            assert spec, f"{name}: {statement}"
            assert spec[1][1:] in WEB_FILES, f"{name} imports {spec[1]}, which is not served"
            if spec[1][2:] not in reached:
                todo.append(spec[1][2:])
    assert reached == set(WEB_MODULES)


def test_the_ordering_module_is_pure() -> None:
    """No DOM, no socket, no storage, no timers, no imports: the browser suite feeds it seqs."""
    source = (WEB_DIR / "ordering.js").read_text()
    for word in ("document", "window", "WebSocket", "Storage", "setTimeout", "import ", "fetch("):
        assert word not in source


def test_a_strange_host_header_is_not_echoed_into_the_policy() -> None:
    assert "connect-src 'self';" in content_security_policy("evil.example; script-src *")
    assert "connect-src 'self';" in content_security_policy(None)
    assert "ws://[::1]:8765 " in content_security_policy("[::1]:8765")


async def test_revalidation_answers_304_without_a_body(server: ChatServerUnderTest) -> None:
    _, first, _ = await get(server, "/app.js")
    status, headers, body = await get(server, "/app.js", **{"If-None-Match": first["ETag"]})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == first["ETag"]
    status, _, body = await get(server, "/app.js", **{"If-None-Match": '"something-else"'})
    assert status == 200 and body


async def test_head_gives_headers_only(server: ChatServerUnderTest) -> None:
    _, _, full = await get(server, "/")
    status, headers, body = await get(server, "/", "HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == len(full)


async def test_other_methods_are_refused(server: ChatServerUnderTest) -> None:
    status, headers, _ = await get(server, "/", "POST", **{"Content-Length": "0"})
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/index.html",
        "/web/app.js",
        "/../chat_server/http.py",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/app.js/../../pyproject.toml",
        "//etc/passwd",
        "/APP.JS",
        "/favicon.ico",
        "/nope.js",
        "/Ordering.js",
        "/ordering.mjs",
        "/js/ordering.js",
        "/ordering.js/",
        "/app.js.map",
        "/node_modules/x.js",
    ],
)
async def test_nothing_but_the_known_files(server: ChatServerUnderTest, path: str) -> None:
    status, _, body = await get(server, path)
    assert status == 404
    assert b"<" not in body and b"import" not in body


async def test_query_strings_are_ignored(server: ChatServerUnderTest) -> None:
    status, headers, _ = await get(server, "/?room=general")
    assert status == 200 and headers["Content-Type"].startswith("text/html")


async def test_the_page_origin_may_open_the_websocket_and_others_may_not(
    server: ChatServerUnderTest,
) -> None:
    own = f"http://127.0.0.1:{server.running.port}"
    async with connect(server.url, origin=own) as ws:  # type: ignore[arg-type]
        await ws.send('{"type":"hello","nick":"pageuser","password":"pw-pw-pw"}')
        assert '"welcome"' in str(await asyncio.wait_for(ws.recv(), 10))
    foreign = f"http://evil.example:{server.running.port}"  # the port alone does not make it ours
    for origin in ("http://evil.example", foreign, "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.url, origin=origin):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403


def test_web_files_are_read_once_and_a_missing_one_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    files = load_web_files(tmp_path)
    assert set(files) == {"/"}
    request = Request("/app.js", Headers())
    assert web_response(files, request, "/app.js") is None  # then the gate answers 404


def test_the_client_never_builds_markup_from_strings() -> None:
    script = "".join((WEB_DIR / name).read_text() for name in WEB_MODULES)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    page = (WEB_DIR / "index.html").read_text() + (WEB_DIR / "style.css").read_text()
    assert not re.search(r"(?:https?:)?//[a-z]", page + script), "no external resources"


# --- whose pages may open a websocket ------------------------------------------------------


def test_own_origins_are_loopback_names_and_the_listen_address_on_the_port() -> None:
    own = own_origins(None, "0.0.0.0", 8765)
    assert "http://localhost:8765" in own and "https://127.0.0.1:8765" in own
    assert "http://[::1]:8765" in own
    assert not any("0.0.0.0" in o for o in own)  # a wildcard is no address a browser uses
    assert "http://10.0.0.5:8765" in own_origins(None, "10.0.0.5", 8765)
    assert own_origins(None, "::1", 80) >= {"http://[::1]", "https://[::1]:80"}


@pytest.mark.parametrize(
    ("public_url", "own"),
    [
        ("https://chat.example.com", "https://chat.example.com"),
        ("https://Chat.Example.com:443/", "https://chat.example.com"),
        ("http://chat.example.com:8080", "http://chat.example.com:8080"),
        ("wss://chat.example.com", "https://chat.example.com"),
    ],
)
def test_a_public_url_is_the_only_own_origin(public_url: str, own: str) -> None:
    assert own_origins(public_url, "127.0.0.1", 8765) == {own}


def test_the_host_header_never_makes_an_origin_its_own() -> None:
    own = own_origins(None, "127.0.0.1", 8765)
    assert origin_allowed("http://127.0.0.1:8765/", own, ())
    assert not origin_allowed("http://evil.example:8765", own, ())
    assert origin_allowed("http://app.example", own, ("http://app.example/",))
