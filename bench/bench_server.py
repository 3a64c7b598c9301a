"""End to end: 100,000 events, uvicorn (1 worker, own process) -> httpx; server CPU seconds.

Contenders, all in one uvicorn process (``--factory bench.bench_server:create_app``), each
request streaming the same corpus (``bench/corpus.py`` ``corpus_events(n)`` when present, else
a token-only stand-in; made once per process, outside the measured requests). Each request turns
it into that server's events or frames, as an app would:

- ``original``: agent-event-stream 0.1.0 ``agent_stream_response`` (a bare StreamingResponse,
  one send per frame, no ids), frames from its ``_fmt`` (what every emitter method calls);
- ``agent-stream typed``: ``AgentStreamResponse`` over typed events: ids, MemoryStore buffer,
  heartbeats, disconnect policy all on;
- ``agent-stream frames``: ``agent_stream_response`` over ``AgentStreamEmitter()`` frames
  (the original style: parsed, validated and renumbered);
- ``fastapi EventSourceResponse``: a yielding path operation, ``ServerSentEvent(data, event)``;
- ``sse-starlette``: ``EventSourceResponse`` over ``{"event", "data"}`` dicts;
- ``StreamingResponse``: a plain Starlette StreamingResponse of pre-formatted frames.

``--paced`` adds an ``await anyio.sleep(0)`` after every event in every source, so each event
is its own wake-up (as with a real LLM, where coalescing has little to merge).

Run: ``.venv/bin/python bench/bench_server.py [--events 100000] [--rounds 3] [--paced]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.lowlevel
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

Corpus = list[tuple[str, dict[str, Any]]]


@functools.lru_cache(maxsize=4)
def make_corpus(n: int) -> Corpus:
    """The shared corpus, made once per size (what an app gets from its LLM is not measured)."""
    try:
        from corpus import corpus_events
    except ImportError:
        words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog."]
        return [("token", {"text": words[i % len(words)]}) for i in range(n - 1)] + [
            ("done", {"num_turns": 1})
        ]
    return [(t, dict(d)) for t, d in corpus_events(n)]


def _load_original(name: str) -> ModuleType:
    base = (
        Path(os.environ.get("AGENT_STREAM_ORIGINAL_DIR", ROOT / ".cache" / "original"))
        / "agent_stream"
    )
    spec = importlib.util.spec_from_file_location(f"_original_{name}", base / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTENDERS = [
    "original",
    "agent-stream typed",
    "agent-stream frames",
    "fastapi EventSourceResponse",
    "sse-starlette",
    "StreamingResponse",
]


def create_app() -> Any:
    from fastapi import FastAPI
    from fastapi.sse import EventSourceResponse, ServerSentEvent
    from sse_starlette import EventSourceResponse as SSEStarletteResponse
    from starlette.responses import StreamingResponse

    from agent_stream import AgentStreamEmitter
    from agent_stream.events import EVENT_TYPES, AgentEvent
    from agent_stream.fastapi import agent_stream_response
    from agent_stream.server import MemoryStore, RunManager
    from agent_stream.starlette import AgentStreamResponse

    original = _load_original("fastapi")
    original_fmt: Callable[[str, dict[str, Any]], str] = _load_original("emitter")._fmt
    manager = RunManager(MemoryStore(ttl_s=5.0))
    app = FastAPI()
    app.state.agent_stream = manager

    async def pace(paced: bool) -> None:
        if paced:
            await anyio.lowlevel.checkpoint()

    @app.get("/original")
    async def original_route(n: int, paced: bool = False) -> Any:
        async def gen() -> AsyncIterator[str]:
            for t, d in make_corpus(n):
                yield original_fmt(t, d)
                await pace(paced)

        return original.agent_stream_response(gen())

    @app.get("/typed")
    async def typed_route(n: int, paced: bool = False) -> Any:
        async def gen() -> AsyncIterator[AgentEvent]:
            for t, d in make_corpus(n):
                yield EVENT_TYPES[t](**d)
                await pace(paced)

        return AgentStreamResponse(gen())

    @app.get("/frames")
    async def frames_route(n: int, paced: bool = False) -> Any:
        async def gen() -> AsyncIterator[str]:
            emitter = AgentStreamEmitter()
            for t, d in make_corpus(n):
                yield emitter.token(**d) if t == "token" else emitter.emit(EVENT_TYPES[t](**d))
                await pace(paced)

        return agent_stream_response(gen())

    @app.get("/fastapi-sse", response_class=EventSourceResponse)
    async def fastapi_route(n: int, paced: bool = False) -> AsyncIterator[ServerSentEvent]:
        for t, d in make_corpus(n):
            yield ServerSentEvent(data=d, event=t)
            await pace(paced)

    @app.get("/sse-starlette")
    async def sse_starlette_route(n: int, paced: bool = False) -> Any:
        async def gen() -> AsyncIterator[dict[str, str]]:
            for t, d in make_corpus(n):
                yield {"event": t, "data": json.dumps(d)}
                await pace(paced)

        return SSEStarletteResponse(gen())

    @app.get("/plain")
    async def plain_route(n: int, paced: bool = False) -> Any:
        async def gen() -> AsyncIterator[str]:
            for t, d in make_corpus(n):
                yield f"event: {t}\ndata: {json.dumps(d)}\n\n"
                await pace(paced)

        return StreamingResponse(gen(), media_type="text/event-stream")

    return app


PATHS = dict(
    zip(
        CONTENDERS,
        ["/original", "/typed", "/frames", "/fastapi-sse", "/sse-starlette", "/plain"],
        strict=True,
    )
)


async def measure(server: Any, path: str, n: int, paced: bool) -> tuple[float, float, int]:
    """(server CPU s, wall s, bytes) for one request of ``n`` events."""
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        cpu0, t0 = server.cpu_seconds(), time.perf_counter()
        received = 0
        async with client.stream("GET", path, params={"n": n, "paced": paced}) as response:
            async for chunk in response.aiter_raw():
                received += len(chunk)
        wall = time.perf_counter() - t0
        await asyncio.sleep(0.05)  # let the server finish the request's bookkeeping
        return server.cpu_seconds() - cpu0, wall, received


def main() -> None:
    from tests.uvicorn_helpers import UvicornProcess

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, int]]] = {c: [] for c in CONTENDERS}
    with UvicornProcess(
        "bench.bench_server:create_app", factory=True, args=["--no-access-log"]
    ) as server:
        for contender in CONTENDERS:  # warm up: imports, first-request paths
            asyncio.run(measure(server, PATHS[contender], 1000, args.paced))
        for _ in range(args.rounds):
            for contender in CONTENDERS:
                results[contender].append(
                    asyncio.run(measure(server, PATHS[contender], args.events, args.paced))
                )
    base = statistics.median(r[0] for r in results["original"])
    print(
        f"server CPU per {args.events:,} events ({'paced' if args.paced else 'burst'}), "
        f"median of {args.rounds}; Python {platform.python_version()}, "
        f"uvicorn {version('uvicorn')}, starlette {version('starlette')}, "
        f"fastapi {version('fastapi')}, sse-starlette {version('sse-starlette')}, "
        f"{platform.machine()} {os.cpu_count()} CPUs\n"
    )
    print("| server | CPU s | x original | wall s | MB sent |")
    print("|---|---:|---:|---:|---:|")
    for contender in CONTENDERS:
        cpu = statistics.median(r[0] for r in results[contender])
        wall = statistics.median(r[1] for r in results[contender])
        size = statistics.median(r[2] for r in results[contender]) / 1e6
        print(f"| {contender} | {cpu:.2f} | {cpu / base:.2f} | {wall:.2f} | {size:.1f} |")


if __name__ == "__main__":
    main()
