"""A recording of 1,000 demo runs whose figures are known by construction (tests share it).

Run ``i`` (0..999) is the demo agent with 20 tokens, 1 ms per token and ``i % 4`` tools, except
every tenth run (``i % 10 == 0``): no tools and ``fail_after=10``, so it fails after two
tokens. Every 50th run gets a resumed connection note; every 100th a client report
(``gave-up``). Tool latencies are the demo's reported ones: web_search 3 ms, read_page 10 ms,
calculator 4 ms.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import anyio

from agent_stream.demo import DemoOptions, demo_agent
from agent_stream.recording import JsonlRecorder
from agent_stream.server import MemoryStore, RunManager

RUNS = 1000
TOOL_NAMES = ("web_search", "read_page", "calculator")
TOOL_LATENCY_MS = {"web_search": 3.0, "read_page": 10.0, "calculator": 4.0}


def is_failing(i: int) -> bool:
    return i % 10 == 0


def tools_of(i: int) -> int:
    return 0 if is_failing(i) else i % 4


def expected_tool_calls() -> Counter[str]:
    calls: Counter[str] = Counter()
    for i in range(RUNS):
        for j in range(tools_of(i)):
            calls[TOOL_NAMES[j]] += 1
    return calls


EXPECTED = {
    "runs": RUNS,
    "runs_by_reason": {"completed": 900, "error": 100},
    "tokens": 900 * 20 + 100 * 2,
    "errors": 100,
    "resumes": RUNS // 50,
    "client_reports": RUNS // 100,
}


async def _record(path: Path) -> list[str]:
    stream_ids: list[str] = []
    async with JsonlRecorder(path, max_bytes=1_000_000) as recorder:
        manager = RunManager(MemoryStore(), recorder=recorder, handle_signals=False)

        async def one(i: int) -> None:
            options = DemoOptions(
                tokens=20,
                token_delay_ms=1,
                tools=tools_of(i),
                fail_after=10 if is_failing(i) else None,
            )
            run = await manager.start(demo_agent(options))
            stream_ids[i] = run.stream_id
            await run.drive()
            if i % 50 == 0:
                recorder.record_note(
                    "connection",
                    run.stream_id,
                    {"resumed": True, "cursor": 5, "end": "done", "bytes": 100},
                )
            if i % 100 == 0:
                recorder.record_note(
                    "client_report",
                    run.stream_id,
                    {"reason": "gave-up", "last_seq": 5, "attempts": 3},
                )

        stream_ids.extend([""] * RUNS)
        agent_log = logging.getLogger("agent_stream")
        level = agent_log.level
        agent_log.setLevel(logging.ERROR)  # 100 "agent raised" warnings on purpose
        try:
            for batch in range(0, RUNS, 100):
                async with anyio.create_task_group() as tg:
                    for i in range(batch, batch + 100):
                        tg.start_soon(one, i)
        finally:
            agent_log.setLevel(level)
    return stream_ids


def make_recording(directory: Path) -> list[Path]:
    """Record the 1,000 runs into rotated files under ``directory``; the files, oldest first."""
    anyio.run(_record, directory / "runs.jsonl")
    return sorted(directory.glob("runs.*.jsonl"))
