"""How long an answer takes: ``POST <respond_url>`` until 200, and until the asking stream shows
the ``input_response``, with MemoryStore (one process) and RedisStore (answer posted to the other
worker). Demo app under uvicorn, real redis-server, loopback.

    .venv/bin/python bench/bench_questions.py --runs 200

Each run starts a demo run with ``ask``, reads to its ``input_required``, then times the answer.
Runs are sequential (latency, not throughput).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

KNOBS = {"ask": True, "tools": 0, "tokens": 1, "token_delay_ms": 0, "thinking": False}


async def one(asking_url: str, answering_url: str, index: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer bench-{index}"}
    async with (
        httpx.AsyncClient(base_url=asking_url, timeout=30) as asking,
        httpx.AsyncClient(base_url=answering_url, timeout=30) as answering,
        asking.stream("POST", "/api/chat", json=KNOBS, headers=headers) as response,
    ):
        buffer = b""
        chunks = response.aiter_raw()
        question = None
        async for chunk in chunks:
            buffer += chunk
            if b"event: input_required\n" in buffer and buffer.endswith(b"\n\n"):
                line = buffer.split(b"event: input_required\ndata: ", 1)[1].split(b"\n", 1)[0]
                question = json.loads(line)
                break
        assert question is not None
        body = {"request_id": question["request_id"], "answer": "Porto"}
        started = time.perf_counter()
        reply = await answering.post(question["respond_url"], json=body, headers=headers)
        answered = time.perf_counter() - started
        assert reply.status_code == 200, reply.text
        buffer = b""
        async for chunk in chunks:
            buffer += chunk
            if b"event: input_response\n" in buffer:
                break
        seen = time.perf_counter() - started
        async for _ in chunks:  # read to the end: the run completes
            pass
    return answered * 1000, seen * 1000


def summary(name: str, samples: list[tuple[float, float]]) -> str:
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    posts = [a for a, _ in samples]
    seen = [s for _, s in samples]
    return (
        f"| {name} | {len(samples)} | {statistics.median(posts):.2f} | {pct(posts, 0.95):.2f} | "
        f"{statistics.median(seen):.2f} | {pct(seen, 0.95):.2f} |"
    )


async def bench(runs: int) -> None:
    from tests.redis_helpers import RedisServer
    from tests.uvicorn_helpers import UvicornProcess

    app = "agent_stream.demo.app:create_app_from_env"
    args = ["--no-access-log"]
    rows = []
    with UvicornProcess(app, factory=True, args=args) as memory:
        await one(memory.url, memory.url, -1)  # warm-up
        rows.append(summary("MemoryStore, same process", [
            await one(memory.url, memory.url, i) for i in range(runs)
        ]))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as redis:
        env = {"AGENT_STREAM_REDIS_URL": f"{redis.url}?prefix=bench"}
        with (
            UvicornProcess(app, factory=True, args=args, env=env) as a,
            UvicornProcess(app, factory=True, args=args, env=env) as b,
        ):
            await one(a.url, b.url, -1)
            rows.append(summary("RedisStore, answer on the other worker", [
                await one(a.url, b.url, i) for i in range(runs)
            ]))  # fmt: skip
    print(f"# {platform.platform()}, Python {platform.python_version()}, load {os.getloadavg()}")
    print("| store | runs | POST→200 p50 ms | p95 | POST→input_response seen p50 ms | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    anyio.run(bench, parser.parse_args().runs)


if __name__ == "__main__":
    main()
