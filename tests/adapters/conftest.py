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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
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
