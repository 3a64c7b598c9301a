"""ask() rides out a short Redis outage as appends do (found by the chaos soak, bench/soak.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from tests.redis_helpers import RedisServer
from tests.server.conftest import frames
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

KNOBS = {"ask": True, "tools": 0, "tokens": 3, "token_delay_ms": 0, "thinking": False}
# longer than a waiting producer's poll (4 x POLL_S = 2 s) plus its call's op_timeout_s (1 s),
# shorter than append_retry_s (10 s); the lease (10 s) outlasts it too
OUTAGE_S = 3.5


async def test_a_question_waiting_through_a_redis_outage_gets_its_answer(
    tmp_path: Path,
) -> None:
    who = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
    with (
        RedisServer(tmp_path, appendonly=True) as redis,
        UvicornProcess(
            "agent_stream.demo.app:create_app_from_env",
            factory=True,
            args=["--no-access-log"],
            env={
                "AGENT_STREAM_REDIS_URL": f"{redis.url}?prefix=outage&lease_s=10",
                "AGENT_STREAM_HEARTBEAT_S": "0.5",
            },
        ) as worker,
    ):
        with anyio.fail_after(40):
            async with (
                httpx.AsyncClient(base_url=worker.url, timeout=20) as client,
                client.stream("POST", "/api/chat", json=KNOBS, headers=who) as response,
            ):
                assert response.status_code == 200
                reader = aiter(frames(response))
                async for frame in reader:
                    if frame.event == "input_required":
                        question = json.loads(frame.data or "")
                        break
                redis.pause()
                try:
                    await anyio.sleep(OUTAGE_S)  # the fault's length, not a wait for a signal
                finally:
                    redis.resume()
                body = {"request_id": question["request_id"], "answer": "Porto"}
                while True:  # 503 while the worker's pooled connections recover
                    reply = await client.post(question["respond_url"], json=body, headers=who)
                    if reply.status_code != 503:
                        break
                    await anyio.sleep(0.2)
                rest = [f async for f in reader if f.event not in (None, "start")]
    assert reply.status_code == 200, reply.text
    kinds = [f.event for f in rest]
    assert "error" not in kinds, [f.data for f in rest if f.event == "error"]
    assert kinds[0] == "input_response"
    assert json.loads(rest[-1].data or "").get("reason", "completed") == "completed"
