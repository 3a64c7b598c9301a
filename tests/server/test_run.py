"""Run (no HTTP): frame sources, exactly one done, recorder, cancellation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest

from agent_stream import AgentStreamEmitter, Token
from agent_stream.server import MemoryStore, RunManager, SourceItem

pytestmark = pytest.mark.anyio


async def stored(manager: RunManager, stream_id: str) -> list[tuple[str, dict[str, object]]]:
    result = await manager.store.read(stream_id, 0, limit=100_000)
    return [(event_type, json.loads(data)) for event_type, data in result.events]


async def drive(source: AsyncIterator[SourceItem], **kwargs: object) -> tuple[RunManager, str]:
    manager = RunManager(MemoryStore(), **kwargs)  # type: ignore[arg-type]
    run = await manager.start(source)
    with anyio.fail_after(5):
        await run.drive()
    return manager, run.stream_id


async def test_frames_split_and_joined_arbitrarily() -> None:
    emitter = AgentStreamEmitter()
    wire = "".join([emitter.token("a"), emitter.token("b\n"), emitter.done()])

    async def source() -> AsyncIterator[SourceItem]:
        yield wire[:7]
        yield wire[7:40].encode()
        yield wire[40:]

    manager, sid = await drive(source())
    got = await stored(manager, sid)
    assert got[:2] == [("token", {"text": "a"}), ("token", {"text": "b\n"})]
    assert [t for t, _ in got] == ["token", "token", "done"]


async def test_invalid_frame_becomes_error_then_done() -> None:
    async def source() -> AsyncIterator[SourceItem]:
        yield Token(text="ok")
        yield "event: token\ndata: not json\n\n"

    manager, sid = await drive(source())
    got = await stored(manager, sid)
    assert [t for t, _ in got] == ["token", "error", "done"]
    assert got[1][1]["error_type"] == "ProtocolError"
    assert got[2][1]["reason"] == "error"


async def test_debug_adds_traceback() -> None:
    async def source() -> AsyncIterator[SourceItem]:
        if run.stream_id:
            raise ValueError("boom")
        yield Token(text="never")  # pragma: no cover

    manager = RunManager(MemoryStore())
    run = await manager.start(source())
    run.debug = True
    await run.drive()
    got = await stored(manager, run.stream_id)
    assert "ValueError: boom" in str(got[0][1]["details"])


async def test_cancel_with_nobody_reading_stores_and_records_one_done() -> None:
    records: list[tuple[str, int, str]] = []
    finally_ran = anyio.Event()
    started = anyio.Event()

    async def source() -> AsyncIterator[SourceItem]:
        try:
            yield Token(text="partial")
            started.set()
            await anyio.sleep_forever()
            yield Token(text="never")  # pragma: no cover
        finally:
            finally_ran.set()

    manager = RunManager(
        MemoryStore(),
        recorder=lambda sid, seq, kind, data, ms: records.append((sid, seq, kind)),
    )
    run = await manager.start(source())
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.drive)
            await started.wait()
            run.cancel()
            run.cancel()  # idempotent
        await finally_ran.wait()
    got = await stored(manager, run.stream_id)
    assert [t for t, _ in got] == ["token", "done"]
    assert got[-1][1]["reason"] == "cancelled"
    assert records == [(run.stream_id, 1, "token"), (run.stream_id, 2, "done")]
    assert manager.stats()["runs_active"] == 0


async def test_outer_cancellation_still_stores_done() -> None:
    async def source() -> AsyncIterator[SourceItem]:
        await anyio.sleep_forever()
        yield Token(text="never")  # pragma: no cover

    manager = RunManager(MemoryStore())
    run = await manager.start(source())
    with anyio.move_on_after(0.05):
        await run.drive()
    got = await stored(manager, run.stream_id)
    assert got == [("done", got[0][1])] and got[0][1]["reason"] == "cancelled"


async def test_reserved_types_are_refused() -> None:
    async def source() -> AsyncIterator[SourceItem]:
        yield "event: start\ndata: {}\n\n"

    manager, sid = await drive(source())
    got = await stored(manager, sid)
    assert [t for t, _ in got] == ["error", "done"]
    assert "server sends those itself" in str(got[0][1]["message"])
