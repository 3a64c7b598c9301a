"""Resume across processes: real redis-server, demo app under uvicorn, round-robin proxy, nginx."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from agent_stream.sse import ServerSentEvent, SSEDecoder
from tests.redis_helpers import RedisServer, free_port
from tests.rrproxy import RoundRobinProxy
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LEASE_S = 1.0
# Retention after done in the race test: the 50 resumers start once the first reader is 5,000
# events in; on a loaded 2-core machine (load 9-10) the last of them was answered 13 s later and
# the run had ended 10 s before, so a shorter TTL answers it 404. A resumer whose response the
# server ended early resumes within it.
RACE_TTL_S = 30.0
AUTH = {"authorization": "Bearer tester"}
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True) as server:
        yield server


def demo(redis: RedisServer, query: str, *, heartbeat_s: float = 0.5) -> UvicornProcess:
    return UvicornProcess(
        "agent_stream.demo.app:create_app_from_env",
        factory=True,
        args=["--no-access-log", "--timeout-graceful-shutdown", "2"],
        env={
            "AGENT_STREAM_REDIS_URL": f"{redis.url}?{query}",
            "AGENT_STREAM_HEARTBEAT_S": str(heartbeat_s),
        },
    )


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[UvicornProcess, UvicornProcess]]:
    query = f"prefix=pair&lease_s={LEASE_S}&ttl_s=60"
    with demo(redis_server, query) as a, demo(redis_server, query) as b:
        yield a, b


@dataclass
class Read:
    events: list[ServerSentEvent]
    is_done: bool
    stream_id: str
    arrivals: list[float]


async def read_stream(
    url: str,
    knobs: Mapping[str, object] | None = None,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    stop_at_seq: int | None = None,
    on_event: Callable[[ServerSentEvent], None] | None = None,
    timeout_s: float = 30.0,
) -> Read:
    """POST /api/chat (or resume it with ``last_event_id``) on a new TCP connection; stop (drop
    the connection) after ``stop_after`` events or at ``stop_at_seq``. A broken connection
    ends the read (``is_done`` False)."""
    headers = dict(AUTH)
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    got: list[ServerSentEvent] = []
    arrivals: list[float] = []
    stream_id = ""
    limits = httpx.Limits(max_keepalive_connections=0)
    with anyio.fail_after(timeout_s):
        async with (
            httpx.AsyncClient(limits=limits, timeout=timeout_s) as client,
            client.stream("POST", f"{url}/api/chat", json=knobs or {}, headers=headers) as r,
        ):
            assert r.status_code == 200, (await r.aread(), url, last_event_id)
            decoder = SSEDecoder()
            try:
                async for chunk in r.aiter_raw():
                    now = time.monotonic()
                    for event in decoder.feed(chunk):
                        if event.event == "start":
                            stream_id = json.loads(event.data)["stream_id"]
                            continue
                        got.append(event)
                        arrivals.append(now)
                        if on_event is not None:
                            on_event(event)
                        if event.event == "done":
                            return Read(got, True, stream_id, arrivals)
                        if stop_after is not None and len(got) >= stop_after:
                            return Read(got, False, stream_id, arrivals)
                        if stop_at_seq is not None and seq(event) >= stop_at_seq:
                            return Read(got, False, stream_id, arrivals)
            except httpx.TransportError:
                pass  # the server went away mid-stream
    return Read(got, False, stream_id, arrivals)


def seq(event: ServerSentEvent) -> int:
    return int(event.id.rsplit(":", 1)[1])


def assert_exactly_once(events: list[ServerSentEvent]) -> None:
    assert [seq(e) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done"
    assert sum(e.event == "done" for e in events) == 1


async def resume_to_done(url: str, events: list[ServerSentEvent], **kw: object) -> Read:
    read = await read_stream(url, last_event_id=events[-1].id, **kw)  # type: ignore[arg-type]
    events.extend(read.events)
    return read


def runs_started(*servers: UvicornProcess) -> int:
    return sum(httpx.get(f"{s.url}/healthz", timeout=5).json()["runs_started"] for s in servers)


async def test_resumes_alternate_processes_every_event_once(
    pair: tuple[UvicornProcess, UvicornProcess],
) -> None:
    a, b = pair
    before = runs_started(a, b)
    knobs = {"tokens": 10_000, "token_delay_ms": 0.4, "tools": 1, "thinking": False}
    async with RoundRobinProxy([a.port, b.port]) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        first = await read_stream(url, knobs, stop_after=150)
        events = list(first.events)
        drops = 1
        with anyio.fail_after(90):
            while events[-1].event != "done":
                stop = 200 if drops < 50 else None
                read = await resume_to_done(url, events, stop_after=stop)
                drops += stop is not None and not read.is_done
        assert_exactly_once(events)
        assert len(events) > 10_000
        assert drops == 50
        # no stickiness: each resume landed on the other process
        assert all(x != y for x, y in zip(proxy.routes, proxy.routes[1:], strict=False))
    assert runs_started(a, b) - before == 1


async def test_kill_9_of_the_serving_process_loses_nothing(redis_server: RedisServer) -> None:
    query = f"prefix=kill-serving&lease_s={LEASE_S}"
    with demo(redis_server, query) as producer, demo(redis_server, query) as serving:
        knobs = {"tokens": 300, "token_delay_ms": 5, "thinking": False}
        first = await read_stream(producer.url, knobs, stop_after=20)
        events = list(first.events)
        kill_at = seq(events[-1]) + 50

        def kill_after_50(event: ServerSentEvent) -> None:
            # the serving process dies while its client is connected, mid-stream
            if seq(event) == kill_at:
                serving.signal(signal.SIGKILL)

        on_serving = await read_stream(
            serving.url, last_event_id=events[-1].id, on_event=kill_after_50
        )
        assert not on_serving.is_done
        serving.wait(10)
        events += on_serving.events
        await resume_to_done(producer.url, events)
        assert_exactly_once(events)
        assert json.loads(events[-1].data)["model"] == "demo-scripted-1"  # the agent's done


async def test_kill_9_of_the_producer_ends_interrupted_within_2_leases(
    redis_server: RedisServer,
) -> None:
    query = f"prefix=kill-producer&lease_s={LEASE_S}"
    with demo(redis_server, query) as producer, demo(redis_server, query) as other:
        knobs = {"tokens": 2000, "token_delay_ms": 5, "thinking": False}
        first = await read_stream(producer.url, knobs, stop_after=20)
        events = list(first.events)
        killed_at = 0.0

        async def kill_soon() -> None:
            nonlocal killed_at
            await anyio.sleep(0.3)  # let the resumed connection go live first
            producer.signal(signal.SIGKILL)
            killed_at = time.monotonic()

        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_soon)
            read = await resume_to_done(other.url, events, timeout_s=10)
        assert read.is_done
        assert read.arrivals[-1] - killed_at < 2 * LEASE_S
        assert_exactly_once(events)
        error, done = (json.loads(e.data) for e in events[-2:])
        assert events[-2].event == "error" and error["error_type"] == "interrupted"
        assert done["reason"] == "interrupted"
        # a second resume (from the start) gets the same replay and the same end
        again = await read_stream(other.url, last_event_id=f"{read.stream_id}:0")
        assert [(e.id, e.event, e.data) for e in again.events] == [
            (e.id, e.event, e.data) for e in events
        ]
        producer.wait(10)


async def test_replay_to_live_race_50_resumers(redis_server: RedisServer) -> None:
    query = f"prefix=race&lease_s={LEASE_S}&ttl_s={RACE_TTL_S}"
    with demo(redis_server, query) as a, demo(redis_server, query) as b:
        await race(redis_server, a, b)


def frame_id(frame: bytes) -> str:
    """The id of an SSE frame that starts with its ``id: <sid>:<seq>`` line."""
    return frame.split(b"\n", 1)[0].removeprefix(b"id: ").decode()


async def race(redis_server: RedisServer, a: UvicornProcess, b: UvicornProcess) -> None:
    import redis

    knobs = {"tokens": 6500, "token_delay_ms": 1, "tools": 0, "thinking": False}
    first = await read_stream(a.url, knobs, stop_at_seq=5000)
    sid = first.stream_id
    results: list[list[bytes]] = []
    async with RoundRobinProxy([a.port, b.port]) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"

        async def resume() -> None:
            # 50 clients in this one process: keep the bytes now, split them into frames later.
            # Under load a Redis read may take longer than the servers' op_timeout_s: they then
            # answer 503 with Retry-After, or end a response early (seen as all 50 cut at
            # 1,024-event read boundaries). Retry, or resume from the last whole frame, as a
            # client does.
            frames: list[bytes] = []
            with anyio.fail_after(120):
                async with httpx.AsyncClient(timeout=60) as client:
                    for _ in range(10):
                        last_id = frame_id(frames[-1]) if frames else f"{sid}:0"
                        body = bytearray()
                        async with client.stream(
                            "GET",
                            f"{url}/api/streams/{sid}",
                            headers={**AUTH, "last-event-id": last_id},
                        ) as r:
                            if r.status_code == 503:
                                await r.aread()
                                await anyio.sleep(float(r.headers["retry-after"]))
                                continue
                            assert r.status_code == 200, await r.aread()
                            async for chunk in r.aiter_raw():
                                body += chunk
                        # whole frames after the priming one, without pings
                        whole = bytes(body).split(b"\n\n")[:-1]
                        frames += [b for b in whole if not b.startswith(b":")][1:]
                        if frames and b"\nevent: done\n" in frames[-1]:
                            break
            results.append(frames)

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(resume)
    assert len(results) == 50
    assert all(r == results[0] for r in results)
    ids = [int(frame_id(frame).rsplit(":", 1)[1]) for frame in results[0]]
    assert ids == list(range(1, len(ids) + 1)) and b"\nevent: done\n" in results[0][-1]
    # retention (ttl_s): the stream's keys go away
    client = redis.Redis.from_url(redis_server.url)
    try:
        with anyio.fail_after(RACE_TTL_S + 5):
            while client.keys(f"race:{{{sid}}}:*"):  # noqa: ASYNC110 - Redis expiry
                await anyio.sleep(0.1)
    finally:
        client.close()


async def test_trimmed_cursor_is_410_and_prefixes_are_isolated(
    redis_server: RedisServer, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    with demo(redis_server, "prefix=trim&max_events=100") as server:
        # 2,000 events at once into MAXLEN ~100: a reader behind the trim point gets 410
        # with the earliest id (a live one that falls behind has its response ended)
        read = await read_stream(server.url, {"tokens": 2000, "token_delay_ms": 0})
        assert read.stream_id
        async with httpx.AsyncClient(timeout=5, headers=AUTH) as client:
            r = await client.get(
                f"{server.url}/api/streams/{read.stream_id}",
                headers={"last-event-id": f"{read.stream_id}:1"},
            )
            assert r.status_code == 410
            earliest = r.json()["error"]["earliest_id"]
            sid, first_kept = earliest.rsplit(":", 1)
            assert sid == read.stream_id and int(first_kept) > 2
            r = await client.get(
                f"{server.url}/api/streams/{read.stream_id}",
                headers={"last-event-id": f"{sid}:{int(first_kept) - 1}"},
            )
            assert r.status_code == 200 and r.text.count("event: done") == 1
            # the same id under another prefix (the pair's) is unknown
            r = await client.get(
                f"{pair[0].url}/api/streams/{read.stream_id}",
                headers={"last-event-id": f"{read.stream_id}:1900"},
            )
            assert r.status_code == 404


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_read_timeout {read_timeout_s}s;
        }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path, pair: tuple[UvicornProcess, UvicornProcess]) -> Iterator[str]:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed: apt-get install nginx (scripts/test does)")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(dir=tmp_path, port=port, upstream=pair[0].port, read_timeout_s=1)
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # bounded readiness poll of a child process
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_nginx_passes_events_unbuffered_and_heartbeats_keep_quiet_streams(
    nginx: str, pair: tuple[UvicornProcess, UvicornProcess]
) -> None:
    # proxy_read_timeout 1 s < the agent's 1.5 s silences; heartbeat 0.5 s keeps it open
    knobs = {"tokens": 3, "token_delay_ms": 1500, "tools": 0, "thinking": False}
    direct: list[Read] = []
    sid_known = anyio.Event()
    sid = ""

    async def via_nginx() -> Read:
        nonlocal sid
        read = await read_stream(nginx, knobs, stop_after=1, timeout_s=10)
        sid = read.stream_id
        sid_known.set()
        return read

    async def follow_direct() -> None:
        await sid_known.wait()
        direct.append(await read_stream(pair[0].url, last_event_id=f"{sid}:0", timeout_s=15))

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow_direct)
        head = await via_nginx()
        rest = await read_stream(nginx, last_event_id=head.events[-1].id, timeout_s=15)
    through_nginx = dict(
        zip([e.id for e in head.events + rest.events], head.arrivals + rest.arrivals, strict=True)
    )
    assert rest.is_done
    lateness = [
        through_nginx[e.id] - t for e, t in zip(direct[0].events, direct[0].arrivals, strict=True)
    ]
    assert len(lateness) == len(through_nginx)
    assert max(lateness) < 0.1, lateness


async def test_paused_redis_answers_503_with_retry_after_within_2s(
    pair: tuple[UvicornProcess, UvicornProcess], redis_server: RedisServer
) -> None:
    a, _ = pair
    read = await read_stream(a.url, {"tokens": 3, "token_delay_ms": 0})
    redis_server.pause()
    try:
        async with httpx.AsyncClient(timeout=5, headers=AUTH) as client:
            for method, path, headers in (
                ("POST", "/api/chat", {}),
                ("GET", f"/api/streams/{read.stream_id}", {"last-event-id": f"{read.stream_id}:1"}),
                ("POST", "/api/chat", {"last-event-id": f"{read.stream_id}:1"}),
                ("POST", f"/api/streams/{read.stream_id}/stop", {}),
            ):
                started = time.monotonic()
                r = await client.request(method, f"{a.url}{path}", headers=headers, json={})
                assert time.monotonic() - started < 2
                assert r.status_code == 503, r.text
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["error"]["code"] == "store-unavailable"
    finally:
        redis_server.resume()
    # back to normal once Redis answers again
    again = await read_stream(a.url, last_event_id=f"{read.stream_id}:1", timeout_s=10)
    assert again.is_done


async def test_redis_down_past_append_retry_stops_the_agent_and_ends_interrupted(
    redis_server: RedisServer,
) -> None:
    query = "prefix=outage&lease_s=0.5&op_timeout_s=0.3&append_retry_s=0.5"
    with demo(redis_server, query, heartbeat_s=0.2) as server:
        knobs = {"tokens": 100_000, "token_delay_ms": 5, "thinking": False}
        paused_at = 0.0

        def pause_at_20(event: ServerSentEvent) -> None:
            nonlocal paused_at
            if seq(event) == 20:
                redis_server.pause()
                paused_at = time.monotonic()

        try:
            first = await read_stream(server.url, knobs, on_event=pause_at_20, timeout_s=10)
            # the run learns its store gave up and stops its agent; the response ends (the
            # client resumes) or carries the interrupted end, never waits for ever
            async with httpx.AsyncClient(timeout=2) as client:
                health = f"{server.url}/healthz"
                with anyio.fail_after(5):  # polling another process, under a deadline
                    while (await client.get(health)).json()["runs_active"]:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
            assert paused_at > 0
        finally:
            redis_server.resume()
        events = list(first.events)
        if not first.is_done:
            await resume_to_done(server.url, events, timeout_s=10)
        assert_exactly_once(events)
        error, done = (json.loads(e.data) for e in events[-2:])
        assert events[-2].event == "error" and error["error_type"] == "interrupted"
        assert done["reason"] == "interrupted"
        again = await read_stream(server.url, last_event_id=f"{first.stream_id}:0")
        assert [(e.id, e.event, e.data) for e in again.events] == [
            (e.id, e.event, e.data) for e in events
        ]
        assert runs_started(server) == 1
