"""AgentStreamClient against a real server process (tests/client/app.py) on loopback."""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import Sequence
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import pytest

from agent_stream.client import AgentStreamClient, StreamEvent
from agent_stream.errors import HTTPStatusError, ProtocolError, ResumeError, UsageError
from agent_stream.state import StreamState
from tests.faultproxy import Fault, FaultProxy, random_plan

from .app import TEXT
from .processes import ServerProcess, serve, uvicorn

pytestmark = pytest.mark.anyio


class Sleeps:
    """An injected ``sleep`` that records what it was asked to wait, and does not wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await anyio.lowlevel.checkpoint()


def counts(server: ServerProcess) -> dict[str, int]:
    result: dict[str, int] = httpx.get(f"{server.url}/counts", timeout=5).json()
    return result


async def collect(
    client: AgentStreamClient, url: str, *, timeout_s: float = 20, **kwargs: Any
) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    with anyio.fail_after(timeout_s):
        async with aclosing(client.stream(url, **kwargs)) as stream:
            async for event in stream:
                events.append(event)
    return events


def text_of(events: Sequence[StreamEvent]) -> str:
    return "".join(str(e.data["text"]) for e in events if e.type == "token")


def expected_text(tokens: int) -> str:
    return "".join(f"{TEXT}{i} " for i in range(tokens))


async def test_reads_a_whole_stream_and_folds_state(test_app: ServerProcess) -> None:
    async with AgentStreamClient() as client:
        events = await collect(client, f"{test_app.url}/api/chat", json={"tokens": 30})
    types = [e.type for e in events]
    assert types[0] == "start" and types[-1] == "done" and types.count("done") == 1
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[1].id.endswith(":1") and events[1].type == "turn"
    assert text_of(events) == expected_text(30)
    assert client.state.text == expected_text(30)
    assert not client.state.is_streaming and client.state.is_done
    assert client.reconnects == 0 and client.failure is None
    assert events[-1].data["message_id"] == "msg_1" and "synthetic" not in events[-1].data


@pytest.mark.parametrize("read_every", [1, 3, 1000])
async def test_state_read_at_any_time_equals_folding_every_event(
    test_app: ServerProcess, read_every: int
) -> None:
    # the client folds token and thinking texts only when the state is read or another
    # event comes: what a reader sees must not tell
    events: list[StreamEvent] = []
    async with AgentStreamClient() as client:
        with anyio.fail_after(20):
            url = f"{test_app.url}/api/chat"
            async for event in client.stream(url, json={"tokens": 30, "thinking": 12}):
                events.append(event)
                if len(events) % read_every == 0:
                    eager = StreamState().apply_all(e.event for e in events)
                    assert client.state == eager
                    assert (client.state.text, client.state.thinking) == (
                        eager.text,
                        eager.thinking,
                    )
    assert client.state == StreamState().apply_all(e.event for e in events)
    assert client.state.thinking == "".join(f"hmm {i} " for i in range(12))
    assert client.state.text == expected_text(30) and client.state.is_done


@pytest.mark.parametrize("status", [401, 403, 404, 422, 500])
async def test_http_errors_raise_at_once_and_reach_the_server_once(
    test_app: ServerProcess, status: int
) -> None:
    sleeps = Sleeps()
    async with AgentStreamClient(sleep=sleeps) as client:
        with pytest.raises(HTTPStatusError) as info:
            await collect(client, f"{test_app.url}/api/chat", json={"status": status})
    assert info.value.status_code == status
    assert '"asked for"' in info.value.body
    assert counts(test_app)[f"/api/chat {status}"] == 1
    assert sleeps.calls == []
    assert not client.state.is_streaming


async def test_opt_in_retry_of_503_waits_retry_after(test_app: ServerProcess) -> None:
    # 503 is retried only when asked, after Retry-After (the test app sends none: backoff)
    sleeps = Sleeps()
    async with AgentStreamClient(
        sleep=sleeps, retry_statuses=(503,), max_retries=3, random=lambda: 0.5
    ) as client:
        with pytest.raises(HTTPStatusError):
            await collect(client, f"{test_app.url}/api/chat", json={"status": 503})
    assert counts(test_app)["/api/chat 503"] == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]


async def test_unknown_types_pass_through(test_app: ServerProcess) -> None:
    async with AgentStreamClient() as client:
        events = await collect(client, f"{test_app.url}/api/chat", json={"unknown": 1})
    unknown = [e for e in events if e.type == "future_thing"]
    assert len(unknown) == 1 and unknown[0].data == {"x": [1, 2]}
    assert client.state.is_done


async def test_eof_before_done_resumes_with_last_event_id(test_app: ServerProcess) -> None:
    sleeps = Sleeps()
    before = counts(test_app).get("runs_started", 0)
    async with AgentStreamClient(sleep=sleeps, random=lambda: 1.0) as client:
        events = await collect(
            client, f"{test_app.url}/api/chat", json={"tokens": 40, "drop_after": 10}
        )
    assert text_of(events) == expected_text(40)
    seqs = [e.seq for e in events if e.seq]
    assert seqs == sorted(set(seqs)) == list(range(1, len(seqs) + 1))
    assert counts(test_app)["runs_started"] == before + 1
    assert client.reconnects == 1
    assert sleeps.calls == [1.0]  # the server's retry: 1000 ms, full jitter drew 1.0


async def test_resume_through_the_resume_url(test_app: ServerProcess) -> None:
    async with AgentStreamClient(sleep=Sleeps(), resume_with="resume_url") as client:
        events = await collect(
            client, f"{test_app.url}/api/chat", json={"tokens": 20, "drop_after": 5}
        )
    assert text_of(events) == expected_text(20)
    assert counts(test_app)[f"resume {client.stream_id}"] == 1


async def test_reconnect_event_resumes_at_once(test_app: ServerProcess) -> None:
    sleeps = Sleeps()
    async with AgentStreamClient(sleep=sleeps) as client:
        events = await collect(
            client, f"{test_app.url}/api/chat", json={"tokens": 20, "reconnect_after": 7}
        )
    assert text_of(events) == expected_text(20)
    assert "reconnect" not in [e.type for e in events]
    assert client.reconnects == 1 and sleeps.calls == []


async def test_resume_answered_404_ends_with_synthetic_done(test_app: ServerProcess) -> None:
    async with AgentStreamClient(sleep=Sleeps()) as client:
        events = await collect(
            client,
            f"{test_app.url}/api/chat",
            json={"tokens": 20, "drop_after": 5, "forget": 1},
        )
    assert events[-1].type == "done" and events[-1].data["synthetic"] is True
    assert events[-1].data["reason"] == "interrupted"
    assert isinstance(client.failure, ResumeError) and client.failure.code == "unknown-stream"
    assert not client.state.is_streaming


async def test_retry_timing_backoff_with_full_jitter_and_cap() -> None:
    # nothing listens on this port: every attempt is a connect error, safe to retry
    with anyio_socket_port() as port:
        pass
    sleeps = Sleeps()
    draws = iter([1.0, 0.5, 1.0, 0.25, 1.0, 1.0])
    async with AgentStreamClient(
        sleep=sleeps,
        random=lambda: next(draws),
        max_retries=6,
        backoff_base_s=1.0,
        backoff_max_s=10.0,
    ) as client:
        events = await collect(client, f"http://127.0.0.1:{port}/api/chat")
    assert sleeps.calls == [1.0, 1.0, 4.0, 2.0, 10.0, 10.0]
    assert [e.type for e in events] == ["done"] and events[0].data["synthetic"] is True
    assert isinstance(client.failure, httpx.ConnectError)


async def test_retry_after_http_date_uses_the_injected_clock() -> None:
    from agent_stream.client import parse_retry_after

    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(date, now_s=now) == 7.0
    assert parse_retry_after("3", now_s=now) == 3.0
    assert parse_retry_after("soon", now_s=now) is None


async def test_stop_cancels_the_run_on_the_server(test_app: ServerProcess) -> None:
    seen: list[StreamEvent] = []
    async with AgentStreamClient() as client:
        with anyio.fail_after(10):
            async with aclosing(
                client.stream(f"{test_app.url}/api/chat", json={"tokens": 500, "slow": 1})
            ) as stream:
                async for event in stream:
                    seen.append(event)
                    if event.type == "token" and len(seen) == 5:
                        await client.stop()
    assert counts(test_app)["stops"] >= 1
    assert seen[-1].type == "done" and seen[-1].data["reason"] == "cancelled"
    assert len(seen) < 100
    assert not client.state.is_streaming


async def test_half_open_connection_is_detected_by_liveness(test_app: ServerProcess) -> None:
    # the proxy stalls the first connection after 1500 bytes: open socket, no bytes
    plan = lambda n: Fault("stall", 1500) if n == 0 else None  # noqa: E731
    async with FaultProxy(test_app.port, plan=plan, max_stall_s=20) as proxy:
        async with AgentStreamClient(sleep=Sleeps()) as client:
            started = time.monotonic()
            events = await collect(
                client, f"{proxy.url}/api/chat", json={"tokens": 60, "heartbeat_ms": 200}
            )
            elapsed = time.monotonic() - started
    assert proxy.faults_fired == 1 and client.reconnects == 1
    assert text_of(events) == expected_text(60)
    assert 1.5 <= elapsed < 10  # liveness: 2.5 x 200 ms + 1 s


async def test_server_killed_mid_stream_ends_with_synthetic_done() -> None:
    with serve(uvicorn("tests.client.app:app")) as server:
        async with AgentStreamClient(max_retries=3, sleep=Sleeps()) as client:
            started = time.monotonic()
            events = await collect(
                client,
                f"{server.url}/api/chat",
                json={"tokens": 50, "die_after": 20, "heartbeat_ms": 1000},
            )
            elapsed = time.monotonic() - started
    assert events[-1].type == "done" and events[-1].data["synthetic"] is True
    assert 0 < len(text_of(events)) < len(expected_text(50))
    assert not client.state.is_streaming
    assert elapsed < 3.5  # the liveness deadline of a 1 s heartbeat


async def test_random_cuts_mid_frame_and_mid_utf8_lose_nothing(test_app: ServerProcess) -> None:
    # 40 connections cut (FIN or RST) at random offsets; the text is dense with multi-byte
    # characters, so many cuts fall inside a character
    plan = random_plan(7, faults=40, first_min_bytes=600, max_bytes=3000)
    before = counts(test_app).get("runs_started", 0)
    async with FaultProxy(test_app.port, plan=plan) as proxy:
        async with AgentStreamClient(sleep=Sleeps(), max_retries=10) as client:
            events = await collect(client, f"{proxy.url}/api/chat", json={"tokens": 400})
    assert proxy.faults_fired == 40
    assert text_of(events) == expected_text(400)
    ids = [e.id for e in events if e.id]
    assert len(ids) == len(set(ids))
    assert counts(test_app)["runs_started"] == before + 1


class anyio_socket_port:
    """A loopback port nothing listens on (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def scripted(wire: bytes) -> httpx.AsyncClient:
    """An httpx client whose every response is ``wire`` as a text/event-stream body."""
    headers = {"content-type": "text/event-stream"}
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=wire, headers=headers))
    )


START = (
    b'event: start\nretry: 7000\ndata: {"stream_id":"s","protocol_version":1,"heartbeat_ms":1000,'
    b'"resume_url":"/api/streams/s","stop_url":"/api/streams/s/stop","resumed":false}\n\n'
)


def token(event_id: str, text: str, extra: str = "") -> bytes:
    return f'id: {event_id}\n{extra}event: token\ndata: {{"text":"{text}"}}\n\n'.encode()


async def test_ids_out_of_order_duplicate_or_opaque_are_handled_event_by_event() -> None:
    wire = b"".join(
        [
            b"id: s:0\n" + START,
            token("s:1", "a"),
            token("s:2", "b"),
            token("s:1", "dup"),  # a seq seen before: dropped
            token("s:5", "c"),  # a gap: accepted
            token("s:4", "old"),  # behind the highest seq: dropped
            token("s:6", "d"),
            token("opaque", "e"),  # not <sid>:<seq>: passed on without a seq
            token("s:\u00b2", "f"),  # a digit that is not a decimal: opaque too
            token("s:7", "g", extra="retry: 250\n"),
            b'id: s:8\nevent: done\ndata: {"message_id":"m"}\n\n',
        ]
    )
    async with scripted(wire) as http, AgentStreamClient(http_client=http) as client:
        events = await collect(client, "http://test/api/chat")
    got = [(e.type, e.id, e.seq) for e in events]
    assert got == [
        ("start", "s:0", 0),
        ("token", "s:1", 1),
        ("token", "s:2", 2),
        ("token", "s:5", 5),
        ("token", "s:6", 6),
        ("token", "opaque", None),
        ("token", "s:\u00b2", None),
        ("token", "s:7", 7),
        ("done", "s:8", 8),
    ]
    assert client.state.text == "abcdefg" and client.state.is_done
    assert client.stream_id == "s"


async def test_an_id_of_another_stream_is_a_protocol_error_after_earlier_events() -> None:
    wire = b"id: s:0\n" + START + token("s:1", "a") + token("t:2", "b")
    seen: list[StreamEvent] = []
    async with scripted(wire) as http, AgentStreamClient(http_client=http) as client:
        with pytest.raises(ProtocolError) as raised:
            async for event in client.stream("http://test/api/chat"):
                seen.append(event)
    assert raised.value.code == "foreign-id"
    assert [e.id for e in seen] == ["s:0", "s:1"]


async def test_a_retry_field_sets_the_backoff_of_the_resume() -> None:
    # no done: EOF resumes after the server's retry (7000 ms, then 250 ms from a token frame)
    wire = b"id: s:0\n" + START + token("s:1", "a", extra="retry: 250\n")
    sleeps = Sleeps()
    async with scripted(wire) as http:
        client = AgentStreamClient(http_client=http, sleep=sleeps, max_retries=1)
        events = await collect(client, "http://test/api/chat")
    assert [e.type for e in events] == ["start", "token", "done"] and events[-1].is_synthetic
    assert len(sleeps.calls) == 1 and sleeps.calls[0] <= 0.25


async def test_the_first_request_carries_an_idempotency_key_and_resumes_do_not(
    test_app: ServerProcess,
) -> None:
    before = counts(test_app)
    async with AgentStreamClient(sleep=Sleeps()) as client:
        events = await collect(
            client, f"{test_app.url}/api/chat", json={"tokens": 20, "drop_after": 5}
        )
    after = counts(test_app)
    assert text_of(events) == expected_text(20) and client.reconnects == 1
    assert after["idempotency-keys first"] == before.get("idempotency-keys first", 0) + 1
    assert after.get("idempotency-keys resume", 0) == before.get("idempotency-keys resume", 0)


async def test_an_invalid_event_is_skipped_reported_and_the_stream_goes_on(
    test_app: ServerProcess,
) -> None:
    async with AgentStreamClient() as client:
        events = await collect(
            client, f"{test_app.url}/api/chat", json={"tokens": 10, "tools": 0, "bad_token": 3}
        )
    assert text_of(events) == expected_text(10) and client.state.is_done
    assert [e.code for e in client.invalid_events] == ["invalid-event"]
    assert client.invalid_events[0].line == '{"txt":"no text"}'
    # the bad event (seq 5: after start, turn and three tokens) is not handed on
    assert [e.type for e in events].count("token") == 10 and 5 not in [e.seq for e in events]


async def test_two_streams_on_one_client_reuse_one_connection(test_app: ServerProcess) -> None:
    tag = secrets.token_hex(4)
    async with AgentStreamClient() as client:
        for _ in range(2):
            events = await collect(
                client, f"{test_app.url}/api/chat", json={"tokens": 50, "peer": tag}
            )
            assert events[-1].type == "done" and not events[-1].is_synthetic
    ports = {k: v for k, v in counts(test_app).items() if k.startswith(f"peer {tag} ")}
    assert list(ports.values()) == [2], ports  # both requests came from one client port


async def test_direct_body_reads_the_connection_and_warns_when_it_cannot(
    test_app: ServerProcess,
) -> None:
    async with AgentStreamClient(direct_body=True) as client:
        events = await collect(client, f"{test_app.url}/api/chat", json={"tokens": 30})
    assert text_of(events) == expected_text(30) and client.state.is_done
    wire = b"id: s:0\n" + START + b'id: s:1\nevent: done\ndata: {"message_id":"m"}\n\n'
    async with scripted(wire) as http:
        client = AgentStreamClient(http_client=http, direct_body=True)
        with pytest.warns(RuntimeWarning, match="cannot be read directly"):
            events = await collect(client, "http://test/api/chat")
    assert [e.type for e in events] == ["start", "done"]


def test_direct_body_outside_the_tested_versions_warns_and_reads_through_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent_stream.client import _body

    monkeypatch.setattr(_body, "DIRECT_BODY_VERSIONS", (("httpx", (0, 1), (0, 2)),))
    with pytest.warns(RuntimeWarning, match=r"httpx .* is outside the tested range >=0\.1,<0\.2"):
        client = AgentStreamClient(direct_body=True)
    assert client._direct_body is False


@pytest.mark.parametrize("url", ["not-a-url", "127.0.0.1:8000/api/chat", "ftp://127.0.0.1/x"])
async def test_a_url_that_cannot_work_fails_at_once_not_after_the_retries(url: str) -> None:
    async with AgentStreamClient() as client:
        with anyio.fail_after(5), pytest.raises(UsageError) as raised:
            async for _ in client.stream(url, json={}):
                pass
    assert raised.value.code == "invalid-url"
    assert "http://127.0.0.1:8000/api/chat" in raised.value.message


async def test_a_relative_url_works_with_the_http_clients_base_url(test_app: ServerProcess) -> None:
    async with (
        httpx.AsyncClient(base_url=test_app.url) as http,
        AgentStreamClient(http_client=http) as client,
    ):
        events = [event.type async for event in client.stream("/api/chat", json={"tokens": 2})]
    assert events[-1] == "done"
