"""Reading a server's /metrics in tests (``serve --metrics``): every sample by name and
labels, and an in-process server whose page is made anew at every scrape."""

from __future__ import annotations

import asyncio
import http.client
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from chat_server.metrics import PrometheusMetrics
from tests.conftest import ChatServerUnderTest, ServerFactory

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(port: int, path: str) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    finally:
        conn.close()


async def scrape(port: int) -> Samples:
    """Every sample of /metrics, by name and labels."""
    status, content_type, text = await asyncio.to_thread(get, port, "/metrics")
    assert status == 200, text
    assert content_type.startswith("text/plain"), content_type
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metered(make_server: ServerFactory, **overrides: Any) -> ChatServerUnderTest:
    """A server with --metrics whose page is made anew at every scrape."""
    server: ChatServerUnderTest = await make_server(metrics=True, **overrides)
    metrics = server.running.ctx.metrics
    assert isinstance(metrics, PrometheusMetrics)
    metrics.page_ttl = 0
    return server
