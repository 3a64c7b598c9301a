"""Client CPU to consume one agent stream: agent-stream's client vs httpx + httpx-sse vs the floor.

One server process (uvicorn, started here on 127.0.0.1:0) streams the same pre-encoded
100,000-event agent run (priming frame, tokens, tool calls, progress, done) to every
contender; this process runs the clients one after another, round-robin, and measures
``time.process_time()`` around each whole stream (this process only: the server's CPU is not
counted). Contenders:

- ``agent-stream``: ``AgentStreamClient().stream`` -> typed events, deduplicated by seq, state
  folded (``client.state``), liveness deadline; the default: its own httpx client over
  ``CoalescingTransport`` (the HTTP chunks of a socket read come out as one piece), the body
  read through httpx's public ``aiter_raw``;
- ``agent-stream http_client``: the same over the bench's plain ``httpx.AsyncClient`` (what a
  caller who brings their own client without that transport gets: one piece per HTTP chunk);
- ``agent-stream direct_body``: ``direct_body=True`` over the plain client (the opt-in reader
  of httpx's connection, private attributes);
- ``httpx-sse``: ``aconnect_sse`` + ``aiter_sse`` (parse only; the data stays a JSON string);
- ``httpx-sse+json``: the same plus ``json.loads(sse.data)``, what a caller does to use it;
- ``iter_raw``: ``response.aiter_raw()`` and nothing else (the floor: httpx + the socket).

By default the server writes one frame per write as fast as it can, so frames pile up in the
socket while the client works; ``--write-bytes`` coalesces frames into bigger writes (as
``AgentStreamResponse`` does for a burst) and ``--pace-ms`` sleeps after each write (a paced
LLM: each frame arrives alone).

Run: ``.venv/bin/python bench/bench_client.py [--events 100000] [--rounds 7] [--write-bytes N]
[--pace-ms MS] [--markdown]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from importlib.metadata import version
from pathlib import Path

import anyio
import httpx
import httpx_sse

from agent_stream.client import AgentStreamClient

ROOT = Path(__file__).resolve().parents[1]
_PORT = re.compile(rb"http://127\.0\.0\.1:(\d+)")

# The bench server: a Starlette app streaming a fixed run whose size comes from the env.
SERVER = r"""
import asyncio, json, os
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route
from agent_stream.emitter import AgentStreamEmitter

N = int(os.environ["BENCH_EVENTS"])
SID = "benchStreamId0123456789"
emitter = AgentStreamEmitter(SID)
start = json.dumps({"stream_id": SID, "protocol_version": 1, "heartbeat_ms": 15000,
    "resume_url": f"/api/streams/{SID}", "stop_url": f"/api/streams/{SID}/stop",
    "resumed": False}, separators=(",", ":"))
frames = [f"id: {SID}:0\nretry: 1000\nevent: start\ndata: {start}\n\n"]
words = ["The ", "agent ", "streams ", "tokens, ", "some ", "with ", "ünïcödé ", "日本 ", "🎉 "]
i = 0
while len(frames) < N:
    i += 1
    if i % 500 == 0:
        frames.append(emitter.tool_use("search", f"tu_{i}", "query=streaming benchmarks"))
        frames.append(emitter.tool_result("search", f"tu_{i}", "10 results", 120))
        frames.append(emitter.progress("research", min(99, i * 100 // N), f"step {i}"))
    else:
        frames.append(emitter.token(words[i % len(words)]))
frames = frames[: N - 1]
frames.append(emitter.done(message_id="msg_bench", num_turns=1, tool_count=N // 500))
# one frame per write, as an agent server sends them (BENCH_WRITE_BYTES > 0 coalesces)
WRITE = int(os.environ.get("BENCH_WRITE_BYTES", "0"))
BODY = []
chunk = []
size = 0
for frame in frames:
    chunk.append(frame)
    size += len(frame)
    if size >= WRITE:
        BODY.append("".join(chunk).encode()); chunk = []; size = 0
if chunk:
    BODY.append("".join(chunk).encode())

PACE = float(os.environ.get("BENCH_PACE_MS", "0")) / 1000

async def chat(request):
    async def body():
        for part in BODY:
            yield part
            if PACE:
                await asyncio.sleep(PACE)
    return StreamingResponse(body(), media_type="text/event-stream")

app = Starlette(routes=[Route("/api/chat", chat, methods=["GET", "POST"])])
"""


@contextmanager
def bench_server(events: int, write_bytes: int = 0, pace_ms: float = 0) -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix="bench_client_"))
    path = workdir / "bench_client_server.py"
    path.write_text(SERVER)
    env = dict(
        os.environ,
        BENCH_EVENTS=str(events),
        BENCH_WRITE_BYTES=str(write_bytes),
        BENCH_PACE_MS=str(pace_ms),
        PYTHONPATH=str(workdir),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_client_server:app", "--host", "127.0.0.1",
         "--port", "0", "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=workdir,
    )  # fmt: skip
    assert proc.stdout is not None
    found: list[int] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not found and (match := _PORT.search(line)):
                found.append(int(match.group(1)))
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the bench server did not start within 60 s")
        yield f"http://127.0.0.1:{found[0]}/api/chat"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=5)
        proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def run_ours(client: AgentStreamClient, url: str) -> int:
    n = 0
    async for _event in client.stream(url, json={}):
        n += 1
    assert client.state.is_done and not client.state.is_streaming
    assert client.state.text
    return n


async def run_httpx_sse(http: httpx.AsyncClient, url: str) -> int:
    n = 0
    async with httpx_sse.aconnect_sse(http, "POST", url, json={}) as source:
        async for _sse in source.aiter_sse():
            n += 1
    return n


async def run_httpx_sse_json(http: httpx.AsyncClient, url: str) -> int:
    n = 0
    loads = json.loads
    async with httpx_sse.aconnect_sse(http, "POST", url, json={}) as source:
        async for sse in source.aiter_sse():
            loads(sse.data)
            n += 1
    return n


async def run_iter_raw(http: httpx.AsyncClient, url: str) -> int:
    n = 0
    tail = b""
    async with http.stream("POST", url, json={}) as response:
        async for chunk in response.aiter_raw():
            # count frame ends, one of which may straddle two chunks
            n += chunk.count(b"\n\n") + (tail == b"\n" and chunk[:1] == b"\n")
            tail = chunk[-1:]
    return n


Run = Callable[[str], Awaitable[int]]


async def measure(url: str, rounds: int, events: int) -> dict[str, list[float]]:
    timeout = httpx.Timeout(30.0, read=60.0)
    # one client of each kind for all rounds, as an application keeps one
    async with (
        httpx.AsyncClient(timeout=timeout) as http,
        AgentStreamClient() as default,  # its own httpx client over CoalescingTransport
        AgentStreamClient(http_client=http) as over_http,
        AgentStreamClient(http_client=http, direct_body=True) as direct,
    ):
        contenders: dict[str, Run] = {
            "agent-stream": partial(run_ours, default),
            "agent-stream http_client": partial(run_ours, over_http),
            "agent-stream direct_body": partial(run_ours, direct),
            "httpx-sse": partial(run_httpx_sse, http),
            "httpx-sse+json": partial(run_httpx_sse_json, http),
            "iter_raw": partial(run_iter_raw, http),
        }
        results: dict[str, list[float]] = {name: [] for name in contenders}
        for run in contenders.values():  # warm up: imports, connection pools, caches
            await run(url)
        for _ in range(rounds):
            for name, run in contenders.items():
                gc.collect()
                started = time.process_time()
                count = await run(url)
                results[name].append(time.process_time() - started)
                if count < events:
                    raise AssertionError(f"{name} read {count} events, expected {events}")
    return results


def report(results: dict[str, list[float]], events: int, rounds: int, markdown: bool) -> str:
    medians = {name: statistics.median(times) for name, times in results.items()}
    base = medians["httpx-sse"]
    lines = []
    if markdown:
        lines.append("| client | CPU s per run (median) | µs / event | vs httpx-sse | min-max s |")
        lines.append("|---|---:|---:|---:|---:|")
    for name, med in medians.items():
        times = results[name]
        per = med / events * 1e6
        ratio = med / base
        if markdown:
            lines.append(
                f"| {name} | {med:.3f} | {per:.2f} | {ratio:.2f}x | "
                f"{min(times):.3f}-{max(times):.3f} |"
            )
        else:
            lines.append(f"{name:26} {med:7.3f}s  {per:6.2f} us/event  {ratio:5.2f}x httpx-sse")
    lines.append("")
    lines.append(
        f"{events:,} events, median of {rounds} round-robin rounds, client process CPU "
        f"(time.process_time); Python {platform.python_version()}, httpx {version('httpx')}, "
        f"httpx-sse {version('httpx-sse')}, anyio {version('anyio')}, "
        f"msgspec {version('msgspec')}; {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} CPUs"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--write-bytes",
        type=int,
        default=0,
        help="coalesce frames into server writes of this size (default 0: a write per frame)",
    )
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=0,
        help="the server sleeps this long after each write, as a paced LLM does (default 0)",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with bench_server(args.events, args.write_bytes, args.pace_ms) as url:
        results = anyio.run(measure, url, args.rounds, args.events)
    print(report(results, args.events, args.rounds, args.markdown))


if __name__ == "__main__":
    main()
