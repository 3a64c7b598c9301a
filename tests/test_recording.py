"""The .jsonl recorder and reader: round trips, concurrent streams, a loop that never waits."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import threading
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from agent_stream.demo import DemoOptions, demo_agent
from agent_stream.errors import ProtocolError
from agent_stream.recording import (
    JsonlRecorder,
    RecordedEvent,
    group_streams,
    read_recording,
    replay,
)
from agent_stream.server import MemoryStore, RunManager
from tests.conftest import load_original_module


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    events = [
        ("s1", 1, "token", b'{"text":"h\\u00e9llo \xf0\x9f\x8e\x89\\n"}', 0.0),
        ("s1", 2, "tool_use", b'{"tool_name":"x","tool_use_id":"t","input":{"a":[1,2]}}', 1.5),
        ("s1", 3, "done", b'{"reason":"completed"}', 12.25),
    ]
    with JsonlRecorder(path) as recorder:
        for event in events:
            recorder.record(*event)
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[0])["kind"] == "meta"
    run_note = json.loads(lines[1])
    assert run_note["kind"] == "run" and run_note["stream_id"] == "s1"
    assert abs(run_note["at"] - time.time()) < 60
    assert json.loads(lines[2]) == {
        "stream_id": "s1",
        "seq": 1,
        "type": "token",
        "data": {"text": "héllo 🎉\n"},
        "t_ms": 0.0,
    }
    got = list(read_recording(path))
    assert [(e.stream_id, e.seq, e.type, json.loads(e.data), e.t_ms) for e in got] == [
        (sid, seq, kind, json.loads(data), t) for sid, seq, kind, data, t in events
    ]
    assert got[0].event().text == "héllo 🎉\n"  # type: ignore[union-attr]
    # the lines re-encode to themselves
    assert b"".join(e.to_line() for e in got) == b"\n".join(lines[2:]) + b"\n"


def test_appending_sessions_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    for n in range(2):
        with JsonlRecorder(path) as recorder:
            recorder.record(f"s{n}", 1, "done", b"{}", 0.0)
    assert [e.stream_id for e in read_recording(path)] == ["s0", "s1"]
    assert path.read_text().count('"kind":"meta"') == 2


@pytest.mark.anyio
async def test_concurrent_runs_into_one_file_stay_separable(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = JsonlRecorder(path)
    manager = RunManager(MemoryStore(), recorder=recorder, handle_signals=False)
    # paced (1 ms a token) so that the runs really interleave in the file
    options = [DemoOptions(tokens=50 + 10 * i, tools=i, token_delay_ms=1) for i in range(6)]
    expected = {}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for opts in options:
                run = await manager.start(demo_agent(opts))
                unpaced = dataclasses.replace(opts, token_delay_ms=0)
                expected[run.stream_id] = [e.type async for e in demo_agent(unpaced)]
                tg.start_soon(run.drive)
        await recorder.aclose()
    streams = group_streams(read_recording(path))
    assert set(streams) == set(expected)
    interleaved = [e.stream_id for e in read_recording(path)]
    assert interleaved != sorted(interleaved, key=list(expected).index)  # really concurrent
    for stream_id, events in streams.items():
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.type for e in events] == expected[stream_id]
        assert [e.t_ms for e in events] == sorted(e.t_ms for e in events)


class BlockedFile(io.BytesIO):
    """A file whose writes wait until the test opens the gate (a stalled disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.entered.set()
        if not self.gate.wait(30):
            raise OSError("test gate never opened")
        return super().write(data)


@pytest.mark.anyio
async def test_recording_never_blocks_the_event_loop(tmp_path: Path) -> None:
    stalled = BlockedFile()
    recorder = JsonlRecorder(tmp_path / "x.jsonl", file=stalled, max_pending=50_000)
    assert stalled.entered.wait(10)  # the writer thread is stuck in its first write
    order: list[str] = []
    stop = anyio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            order.append("tick")
            await anyio.lowlevel.checkpoint()

    async def producer() -> None:
        for batch in range(100):
            for i in range(400):
                recorder.record("s", batch * 400 + i + 1, "token", b'{"text":"x"}', 0.0)
            order.append("batch")
            await anyio.lowlevel.checkpoint()
        stop.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            tg.start_soon(producer)
    # 40,000 lines were queued while the disk was stalled, and the heartbeat kept running
    # between every batch of them.
    assert order.count("batch") == 100
    batches = [i for i, item in enumerate(order) if item == "batch"]
    assert all("tick" in order[a:b] for a, b in itertools.pairwise(batches))
    assert stalled.getvalue() == b""
    stalled.gate.set()
    await recorder.aclose()
    lines = stalled.getvalue().splitlines()
    assert len(lines) == 2 + 40_000  # meta, the run note, the events and recorder.dropped == 0
    assert json.loads(lines[-1])["seq"] == 40_000


@pytest.mark.anyio
async def test_a_stalled_writer_drops_lines_instead_of_growing(tmp_path: Path) -> None:
    stalled = BlockedFile()
    recorder = JsonlRecorder(tmp_path / "x.jsonl", file=stalled, max_pending=1_000)
    assert stalled.entered.wait(10)
    for seq in range(1, 5_001):
        recorder.record("s", seq, "token", b"{}", 0.0)
    assert recorder.dropped == 4_000
    stalled.gate.set()
    await recorder.aclose()
    assert len(stalled.getvalue().splitlines()) == 2 + 1_000  # meta, the run note, the events kept


def test_flush_hands_lines_to_the_os(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    recorder = JsonlRecorder(path, flush_interval_s=60)
    recorder.record("s", 1, "token", b'{"text":"a"}', 0.0)
    assert recorder.flush(timeout_s=10)
    assert [e.seq for e in read_recording(path)] == [1]
    recorder.record("s", 2, "done", b"{}", 1.0)
    recorder.close()
    recorder.record("s", 3, "token", b"{}", 2.0)  # after close: dropped, not raised
    assert [e.seq for e in read_recording(path)] == [1, 2]
    assert recorder.dropped == 1


def _original_session_lines(session: str, frames: list[tuple[float, str]]) -> list[str]:
    # What the original agent-event-stream recorder (agent_stream/recorder.py upstream) wrote:
    # a session header, then {"t": seconds, "event", "data"} per frame, json.dumps defaults.
    lines = [json.dumps({"session": session, "started_at": "2026-03-31T10:00:00+00:00", "t": 0})]
    for t, frame in frames:
        event = frame.split("event: ", 1)[1].split("\n", 1)[0]
        data = json.loads(frame.split("data: ", 1)[1].split("\n", 1)[0])
        lines.append(json.dumps({"t": t, "event": event, "data": data}))
    return lines


def test_reads_the_original_recorder_format(tmp_path: Path) -> None:
    emitter = load_original_module("emitter").AgentStreamEmitter()
    first = _original_session_lines(
        "9b1c", [(0.0, emitter.token("Hello")), (0.052, emitter.token(" wörld 🌍"))]
    )
    second = _original_session_lines(
        "77aa",
        [
            (0.0, emitter.tool_use("search", "tu_1", "q=x")),
            (0.4, emitter.tool_result("search", "tu_1", "3 results", duration_ms=400)),
            (1.204, emitter.done(num_turns=1, model="m")),
        ],
    )
    path = tmp_path / "original.jsonl"
    path.write_text("\n".join(first + second) + "\n", "utf-8")
    streams = group_streams(read_recording(path))
    assert list(streams) == ["9b1c", "77aa"]
    assert [(e.seq, e.type, e.t_ms) for e in streams["9b1c"]] == [
        (1, "token", 0.0),
        (2, "token", 52.0),
    ]
    assert streams["9b1c"][1].event().text == " wörld 🌍"  # type: ignore[union-attr]
    assert [e.type for e in streams["77aa"]] == ["tool_use", "tool_result", "done"]
    assert streams["77aa"][2].t_ms == pytest.approx(1204.0)
    assert streams["77aa"][2].event().model == "m"  # type: ignore[union-attr]


def test_reads_tail_jsonl_and_bare_lines() -> None:
    lines = [
        '{"id":"abcdefghijklmnopqrstuv:1","event":"token","data":{"text":"a"}}',
        '{"id":"abcdefghijklmnopqrstuv:2","event":"done","data":{}}',
        '{"type":"token","data":{"text":"b"}}',
        '{"event":"done","data":"{\\"num_turns\\":1}"}',
    ]
    got = list(read_recording(lines))
    assert [(e.stream_id, e.seq, e.type) for e in got] == [
        ("abcdefghijklmnopqrstuv", 1, "token"),
        ("abcdefghijklmnopqrstuv", 2, "done"),
        ("original", 1, "token"),
        ("original", 2, "done"),
    ]
    assert json.loads(got[3].data) == {"num_turns": 1}


@pytest.mark.parametrize(
    ("line", "problem"),
    [("not json", "not JSON"), ("[1]", "JSON object"), ('{"data":{}}', "no event type")],
)
def test_bad_lines_name_their_number(line: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=rf"line 2: .*{problem}") as info:
        list(read_recording(['{"type":"token","data":{"text":"a"}}', line]))
    assert info.value.code == "invalid-recording"


@pytest.mark.anyio
async def test_replay_keeps_order_and_scales_time() -> None:
    events = [RecordedEvent("s", i, "token", b"{}", i * 500.0) for i in range(1, 5)]
    with anyio.fail_after(5):
        assert [e async for e in replay(events, speed=0)] == events
        # 1.5 s of recording at 100x: well inside the deadline
        assert [e.seq async for e in replay(events, speed=100)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="speed"):
        async for _ in replay(events, speed=-1):
            pass
