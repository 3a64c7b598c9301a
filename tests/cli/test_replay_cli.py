"""``agent-stream replay``: print a recording, or serve it so a client reads it identically."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import httpx
import pytest

from agent_stream.cli import build_parser
from agent_stream.cli.replay import run
from agent_stream.demo import DemoOptions, demo_agent
from agent_stream.recording import JsonlRecorder, group_streams, read_recording
from agent_stream.server import MemoryStore, RunManager
from tests.server.conftest import frames

from .processes import cli_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """Two demo runs recorded concurrently into one file."""
    path = tmp_path / "runs.jsonl"

    async def record() -> None:
        recorder = JsonlRecorder(path)
        manager = RunManager(MemoryStore(), recorder=recorder, handle_signals=False)
        async with anyio.create_task_group() as tg:
            for opts in (
                DemoOptions(message="Olá 🌍", tokens=40, tools=2, token_delay_ms=0),
                DemoOptions(tokens=10, fail_after=8, token_delay_ms=0),
            ):
                tg.start_soon((await manager.start(demo_agent(opts))).drive)
        await recorder.aclose()

    anyio.run(record)
    return path


def replay(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = run(build_parser().parse_args(["replay", *argv]), out)
    return status, out.getvalue()


def test_prints_each_stream(recording: Path) -> None:
    streams = group_streams(read_recording(recording))
    status, text = replay(str(recording))
    assert status == 0
    for stream_id, events in streams.items():
        assert f"stream {stream_id}: {len(events)} events" in text
    assert "Olá 🌍" in text and text.count(" done ") >= 2


def test_prints_jsonl_of_one_stream(recording: Path) -> None:
    _, second = group_streams(read_recording(recording))
    status, text = replay(str(recording), "--jsonl", "--stream", second)
    assert status == 0
    got = list(read_recording(text.splitlines()))
    assert got == group_streams(read_recording(recording))[second]
    assert [e.type for e in got][-2:] == ["error", "done"]
    assert replay(str(recording), "--stream", "nope")[0] == 2


@pytest.mark.anyio
async def test_serve_streams_the_recording_identically(recording: Path) -> None:
    streams = group_streams(read_recording(recording))
    first = next(iter(streams))
    with cli_server(["replay", str(recording), "--serve", "--speed", "0"]) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for stream_id, query in ((first, {}), *((s, {"stream": s}) for s in streams)):
                with anyio.fail_after(10):
                    async with client.stream("POST", "/api/chat", params=query) as response:
                        assert response.status_code == 200
                        got = [f async for f in frames(response)]
                events = [f for f in got if f.event not in (None, "start")]
                recorded = streams[stream_id]
                assert [(f.seq, f.event, (f.data or "").encode()) for f in events] == [
                    (e.seq, e.type, e.data) for e in recorded
                ]
            listing = (await client.get("/api/recording")).json()
            assert [s["stream_id"] for s in listing["streams"]] == list(streams)
            assert (await client.get("/api/chat", params={"stream": "nope"})).status_code == 404


@pytest.mark.anyio
async def test_serve_an_original_recording(tmp_path: Path) -> None:
    path = tmp_path / "original.jsonl"
    lines = [
        {"session": "s-1", "started_at": "2026-03-31T10:00:00+00:00", "t": 0},
        {"t": 0.0, "event": "token", "data": {"text": "Hello"}},
        {"t": 0.05, "event": "token", "data": {"text": " world"}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with cli_server(["replay", str(path), "--serve", "--speed", "10"]) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            with anyio.fail_after(10):
                response = await client.get("/api/chat")
    text = response.text
    assert 'data: {"text": "Hello"}' in text and 'data: {"text": " world"}' in text
    # the recording had no done: the server ends the stream with one
    assert text.count("event: done") == 1
