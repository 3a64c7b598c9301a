"""Official SDK clients fed recorded SSE wire bytes through their HTTP library's mock transport.

The Anthropic and OpenAI SDKs (2.x / 3.x) are built on ``httpx2``, not ``httpx``: their
``http_client=`` must be an ``httpx2.AsyncClient``, so the mock is ``httpx2.MockTransport``.
The SDK does the SSE parsing and builds its own event objects; the tests check our mapping of
those real objects. Bodies are served in small chunks cut at seeded random offsets, so SSE
frames and UTF-8 sequences are split the way a network splits them.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import anyio
import anyio.abc
import httpx2
import jsonschema
import openai
import pytest

from agent_stream import AgentEvent, StreamState, fold
from agent_stream.events import event_to_dict

ROOT = Path(__file__).resolve().parent.parent.parent
WIRE = Path(__file__).resolve().parent / "wire"
SCHEMA = json.loads((ROOT / "spec" / "events.schema.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wire(name: str) -> bytes:
    """The recorded response body ``tests/adapters/wire/<name>``."""
    return (WIRE / name).read_bytes()


async def _chunks(body: bytes, seed: int) -> AsyncIterator[bytes]:
    rng = random.Random(seed)
    offset = 0
    while offset < len(body):
        size = rng.randint(1, 97)
        yield body[offset : offset + size]
        offset += size


@dataclass
class Recorded:
    """Serves one recorded body per request, in order, and keeps the requests' JSON bodies."""

    bodies: Sequence[bytes]
    seed: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        index = len(self.requests)
        self.requests.append(json.loads(request.content))
        assert index < len(self.bodies), f"unexpected request {index + 1}: {request.url}"
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream", "request-id": f"req_{index}"},
            content=_chunks(self.bodies[index], self.seed + index),
        )

    def http_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))


def anthropic_client(recorded: Recorded) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-test", http_client=recorded.http_client(), max_retries=0
    )


def openai_client(recorded: Recorded, base_url: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="sk-test", base_url=base_url, http_client=recorded.http_client(), max_retries=0
    )


MAX_REQUEST_BYTES = 1 << 20


async def _read_request(client: anyio.abc.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await client.receive()
        assert len(data) < MAX_REQUEST_BYTES
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await client.receive()


@asynccontextmanager
async def cut_connection(body: bytes, *, chunked: bool) -> AsyncIterator[str]:
    """A loopback HTTP/1.1 provider that answers 200 with ``body`` and closes the connection.

    ``chunked=True`` sends ``body`` as one chunk and closes without the last chunk: the
    client's HTTP library sees the transfer cut. Otherwise the body is close-delimited: the
    client sees a clean end of the response where ``body`` ends. Yields the base URL.
    """

    async def serve(client: anyio.abc.SocketStream) -> None:
        async with client:
            await _read_request(client)
            framing = b"transfer-encoding: chunked" if chunked else b"connection: close"
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" + framing
            payload = b"%x\r\n%s\r\n" % (len(body), body) if chunked else body
            await client.send(head + b"\r\n\r\n" + payload)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}"
        group.cancel_scope.cancel()


async def collect(source: AsyncIterator[AgentEvent]) -> list[AgentEvent]:
    """Every event of ``source``, each checked against the schema as it would be sent."""
    events = [event async for event in source]
    for event in events:
        VALIDATOR.validate({"type": event.type, "data": event_to_dict(event)})
    return events


def folded(events: Sequence[AgentEvent]) -> StreamState:
    state = StreamState()
    for event in events:
        state = fold(state, event)
    return state


def of_type(events: Sequence[AgentEvent], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]
