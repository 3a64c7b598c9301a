"""Chaos soak (#17 performance 4): two workers + Redis with AOF under faults, every run checked.

A real redis-server (``appendonly yes``, ``appendfsync always``) on a free loopback port, two
uvicorn workers serving ``bench/soak_app.py`` on a ``RedisStore``, a round-robin balancer
(``bench/soak_proxy.py``) in front, and ``--clients`` concurrent ``AgentStreamClient`` loops
(they resume by themselves) each starting runs of a deterministic agent back to back. Some runs
ask a question, answered through the respond route; some are stopped through the stop route.
Meanwhile a seeded scheduler cuts live connections (FIN or RST), SIGKILLs worker 1 and starts
it again, and restarts Redis (SIGTERM or, half of the time, SIGKILL; the AOF keeps every
acknowledged write). Worker 0 is never killed, so its RSS is watched over the whole soak. Every
finished run is checked against what Redis stored (``bench/soak_check.py``).

    nice -n 10 .venv/bin/python bench/soak.py --duration 1800 --clients 8   # the full soak
    .venv/bin/python bench/soak.py --duration 90 --clients 4 -v             # a quick look

Prints a summary table; exits 1 on any lost, repeated, reordered or altered event, a run not
ending in exactly one ``done``, a client giving up or hanging, or RSS growth over
``--rss-limit`` after warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.soak_app import CHOICES, script  # noqa: E402
from bench.soak_check import RunRecord, check_run  # noqa: E402
from bench.soak_proxy import ChaosProxy  # noqa: E402
from bench.soak_report import RUN_DEADLINE_S, SoakConfig, SoakResult  # noqa: E402
from tests.redis_helpers import RedisServer  # noqa: E402
from tests.uvicorn_helpers import UvicornProcess  # noqa: E402

from agent_stream.client import AgentStreamClient  # noqa: E402
from agent_stream.errors import AgentStreamError, HTTPStatusError  # noqa: E402


class Soak:
    def __init__(self, config: SoakConfig, workdir: Path) -> None:
        self.config = config
        self.result = SoakResult(config)
        self.rng = random.Random(config.seed)
        self.redis = RedisServer(workdir / "redis", appendonly=True)
        self.workers: list[UvicornProcess | None] = [None, None]
        self.lives = [0, 0]
        self.proxy = ChaosProxy([None, None], rng=random.Random(config.seed + 1))
        self.started = 0.0
        self.ending = 0.0
        self.store: Any = None
        self.stream_ids: set[str] = set()

    def _worker(self) -> UvicornProcess:
        # streams outlive the soak, so that the census at the end sees every one
        ttl_s = self.config.duration_s + 900
        query = f"prefix=soak&lease_s={self.config.lease_s}&ttl_s={ttl_s:.0f}"
        return UvicornProcess(
            "bench.soak_app:create_app",
            factory=True,
            args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
            env={"SOAK_REDIS_URL": f"{self.redis.url}?{query}"},
            ready_timeout_s=60,
        )

    def _start_worker(self, slot: int) -> None:
        worker = self._worker().start()
        self.workers[slot] = worker
        self.proxy.upstreams[slot] = worker.port

    def now(self) -> float:
        return time.monotonic() - self.started

    def log(self, message: str) -> None:
        if self.config.verbose:
            print(f"[{self.now():7.1f}s] {message}", file=sys.stderr, flush=True)

    async def run(self) -> SoakResult:
        import redis.asyncio as aioredis

        await anyio.to_thread.run_sync(self.redis.start)
        try:
            await self.proxy.start()
            for slot in (0, 1):
                await anyio.to_thread.run_sync(self._start_worker, slot)
            self.store = aioredis.Redis.from_url(
                self.redis.url, socket_timeout=2, socket_connect_timeout=2
            )
            self.started = time.monotonic()
            self.ending = self.started + self.config.duration_s
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._chaos)
                tasks.start_soon(self._sample_rss)
                async with anyio.create_task_group() as clients:
                    for cid in range(self.config.clients):
                        clients.start_soon(self._client, cid)
                tasks.cancel_scope.cancel()
            self.result.elapsed_s = self.now()
            await self._census()
            self.result.cuts = self.proxy.stats.cuts
        finally:
            await self.proxy.close()
            for worker in self.workers:
                if worker is not None:
                    await anyio.to_thread.run_sync(worker.stop)
            if self.store is not None:
                await self.store.aclose()
            await anyio.to_thread.run_sync(self.redis.stop)
        self.result.load = " ".join(f"{load:.2f}" for load in os.getloadavg())
        return self.result

    # Faults

    async def _chaos(self) -> None:
        c = self.config
        next_cut = self.now() + self.rng.uniform(0.5, 1.5) * c.cut_every_s
        next_kill = self.rng.uniform(0.3, 0.7) * c.kill_every_s
        next_redis = self.rng.uniform(0.5, 0.9) * c.redis_every_s
        while time.monotonic() < self.ending:
            await anyio.sleep(max(0.0, min(next_cut, next_kill, next_redis) - self.now()))
            now = self.now()
            if now >= c.duration_s:
                return
            if now >= next_kill:
                await self._kill_worker()
                next_kill = self.now() + self.rng.uniform(0.5, 1.5) * c.kill_every_s
            elif now >= next_redis:
                await self._restart_redis()
                next_redis = self.now() + self.rng.uniform(0.5, 1.5) * c.redis_every_s
            elif now >= next_cut:
                count = self.proxy.cut(self.rng.randint(1, 3))
                self.log(f"cut {count} connections")
                next_cut = self.now() + self.rng.uniform(0.5, 1.5) * c.cut_every_s

    async def _kill_worker(self) -> None:
        worker = self.workers[1]
        assert worker is not None
        self.proxy.upstreams[1] = None
        worker.signal(signal.SIGKILL)
        await anyio.to_thread.run_sync(worker.stop)
        self.result.kills += 1
        self.lives[1] += 1
        self.log(f"killed worker 1 (pid {worker.pid}); starting it again")
        await anyio.to_thread.run_sync(self._start_worker, 1)

    async def _restart_redis(self) -> None:
        crash = self.rng.random() < 0.5
        self.log(f"restarting redis ({'SIGKILL' if crash else 'SIGTERM'})")
        await anyio.to_thread.run_sync(lambda: self.redis.restart(crash=crash))
        self.result.redis_restarts += 1
        self.result.redis_crashes += crash

    # RSS

    def _rss_sample(self, slot: int, worker: UvicornProcess) -> None:
        name = f"worker {slot}" if slot == 0 else f"worker 1 life {self.lives[1] + 1}"
        with contextlib.suppress(OSError):  # the worker may be gone (killed) meanwhile
            self.result.rss.setdefault(name, []).append((self.now(), worker.rss_bytes()))

    async def _sample_rss(self) -> None:
        for n in itertools.count(1):
            for slot, worker in enumerate(self.workers):
                if worker is not None and worker.returncode is None:
                    self._rss_sample(slot, worker)
            await anyio.sleep(5)
            if n % 12 == 0:
                r, t = self.result, self.result.tally
                print(
                    f"[{self.now():7.1f}s] runs {t.runs:,}, violations {t.violations}, "
                    f"hung {r.hung}, cuts {self.proxy.stats.cuts}, kills {r.kills}, "
                    f"redis restarts {r.redis_restarts}",
                    file=sys.stderr,
                    flush=True,
                )

    async def _census(self) -> None:
        """Count the streams Redis holds: one a client never saw, with agent events in it,
        is a run started twice (a re-sent start that did not find its first attempt)."""
        stored = 0
        async for key in self.store.scan_iter(match="soak:{*}:meta", count=1000):
            stored += 1
            stream_id = key.decode().split("{", 1)[1].split("}", 1)[0]
            if stream_id in self.stream_ids:
                continue
            self.result.unseen_streams += 1
            entries = await self.store.xrange(f"soak:{{{stream_id}}}:events", count=3)
            kinds = [fields[b"t"].decode() for _, fields in entries]
            if any(kind in ("token", "input_required") for kind in kinds):
                self.result.unseen_with_events += 1
                data = entries[0][1][b"d"].decode()[:80]
                self.result.tally.details.append(
                    f"stream {stream_id} holds agent events no client read: {kinds} {data}"
                )
        self.result.streams_stored = stored

    # Clients

    async def _client(self, cid: int) -> None:
        client = AgentStreamClient(
            retry_statuses=(503,),
            max_retries=40,
            backoff_base_s=0.2,
            backoff_max_s=2.0,
            stop_grace_s=20.0,
        )
        async with client:
            index = 0
            while time.monotonic() < self.ending:
                record = await self._one_run(client, cid, index)
                index += 1
                if record is not None:
                    await self._check(record)

    async def _one_run(self, client: AgentStreamClient, cid: int, index: int) -> RunRecord | None:
        c = self.config
        run = f"c{cid}r{index}"
        rng = random.Random(f"{c.seed}:{run}")
        tokens = rng.randint(*c.tokens)
        ask_at = rng.randrange(tokens) if rng.random() < c.ask_rate else None
        stop_after = rng.randint(1, tokens) if rng.random() < c.stop_rate else None
        answer = rng.choice(CHOICES)
        body = {
            "run": run,
            "tokens": tokens,
            "delay_ms": rng.randint(*c.delay_ms),
            "ask_at": ask_at,
        }
        record = RunRecord(run, script(run, tokens, ask_at, answer), stopped=stop_after is not None)
        seen_tokens = 0
        headers = {"Authorization": f"Bearer soak-{cid}"}
        with anyio.move_on_after(RUN_DEADLINE_S) as scope:
            try:
                async with contextlib.aclosing(
                    client.stream(self.proxy.url + "/soak", json=body, headers=headers)
                ) as events:
                    async for event in events:
                        if event.seq is None:
                            record.synthetic = event
                            continue
                        if event.seq == 0:
                            continue
                        record.received.append(event)
                        if event.type == "input_required" and not record.answered:
                            record.answered = True
                            await self._answer(client, record, answer)
                        if event.type == "token":
                            seen_tokens += 1
                            if seen_tokens == stop_after:
                                await self._stop(client)
            except AgentStreamError as exc:
                record.error = f"{self.now():.1f}s: {exc!r}"
                print(f"run {run}: {record.error}", file=sys.stderr, flush=True)
        record.stream_id = client.stream_id
        if record.stream_id is not None:
            self.stream_ids.add(record.stream_id)
        self.result.resumes += client.reconnects
        record.failure = repr(client.failure) if client.failure else ""
        if scope.cancelled_caught:
            self.result.hung += 1
            print(f"run {run} stream {record.stream_id} hung", file=sys.stderr, flush=True)
            return None
        return record

    async def _answer(self, client: AgentStreamClient, record: RunRecord, answer: str) -> None:
        key = f"answer-{record.run}"
        self.result.answers += 1
        with anyio.move_on_after(60):
            while True:
                try:
                    await client.respond(answer, idempotency_key=key)
                    return
                except HTTPStatusError as exc:
                    if exc.status_code != 503:
                        # 404/410: the run's worker was killed and its stream ended interrupted
                        record.refused_answer = f"{exc.status_code} {exc}"
                        self.result.answers_refused += 1
                        return
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.5)
        self.result.answers_refused += 1

    async def _stop(self, client: AgentStreamClient) -> None:
        self.result.stops += 1
        with anyio.move_on_after(60):
            while True:
                try:
                    await client.stop()
                    return
                except HTTPStatusError as exc:
                    if exc.status_code != 503:
                        self.result.stops_refused += 1
                        return
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.5)
        self.result.stops_refused += 1

    async def _check(self, record: RunRecord) -> None:
        before = len(self.result.tally.details)
        await self._check_record(record)
        for line in self.result.tally.details[before:]:
            print(f"[{self.now():7.1f}s] VIOLATION: {line}", file=sys.stderr, flush=True)

    async def _check_record(self, record: RunRecord) -> None:
        if record.error:
            self.result.tally.runs += 1
            self.result.tally.client_errors += 1
            known = "no stream id"
            with contextlib.suppress(Exception):
                if record.stream_id is not None:
                    meta = f"soak:{{{record.stream_id}}}:meta"
                    known = str(bool(await self.store.exists(meta)))
            self.result.tally.violation(
                record, f"client raised at {record.error}; stream in Redis: {known}"
            )
            return
        if record.stream_id is None:
            self.result.tally.runs += 1
            self.result.tally.gave_up += 1
            self.result.tally.violation(record, "never got a stream id")
            return
        stored = await self._stored(record.stream_id)
        if stored is None:
            self.result.tally.runs += 1
            self.result.tally.done_violations += 1
            self.result.tally.violation(record, "stored stream never got its done")
            return
        check_run(self.result.tally, record, stored)

    async def _stored(self, stream_id: str) -> list[tuple[int, str, bytes]] | None:
        """The stream's events from Redis once it has ended (interrupted ends come within
        2 x lease_s); None if it did not end within the deadline."""
        events_key, meta_key = f"soak:{{{stream_id}}}:events", f"soak:{{{stream_id}}}:meta"
        with anyio.move_on_after(RUN_DEADLINE_S):
            while True:
                try:
                    if await self.store.hget(meta_key, "done") == b"1":
                        entries = await self.store.xrange(events_key)
                        return [
                            (int(entry_id.split(b"-")[0]), fields[b"t"].decode(), fields[b"d"])
                            for entry_id, fields in entries
                        ]
                except (OSError, ConnectionError, TimeoutError) as exc:
                    self.log(f"checker: redis unavailable ({exc!r})")
                except Exception as exc:  # noqa: BLE001 - redis-py's errors, retried until the deadline
                    self.log(f"checker: {exc!r}")
                await anyio.sleep(0.2)
        return None


def soak(config: SoakConfig) -> SoakResult:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        return anyio.run(Soak(config, Path(tmp)).run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of chaos")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client loops")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--cut-every", type=float, default=2.0, help="mean s between cuts")
    parser.add_argument("--kill-every", type=float, default=120.0, help="mean s between kills")
    parser.add_argument("--redis-every", type=float, default=150.0, help="mean s between restarts")
    parser.add_argument("--warmup", type=float, default=None, help="RSS baseline after (s)")
    parser.add_argument("--rss-limit", type=float, default=0.10, help="max RSS growth (0.10)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each fault")
    args = parser.parse_args()
    config = SoakConfig(
        duration_s=args.duration,
        clients=args.clients,
        seed=args.seed,
        cut_every_s=args.cut_every,
        kill_every_s=args.kill_every,
        redis_every_s=args.redis_every,
        warmup_s=args.warmup,
        rss_limit=args.rss_limit,
        verbose=args.verbose,
    )
    result = soak(config)
    print(result.table())
    violations = result.violations()
    for line in result.tally.notes:
        print(f"note: {line}")
    for line in violations:
        print(f"VIOLATION: {line}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
