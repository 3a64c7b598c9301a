"""A start whose first attempt bound its Idempotency-Key but never created its stream (its
worker was killed in between, or Redis refused the create) is run by the retry, once (found by
the chaos soak, bench/soak.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from agent_stream.emitter import new_stream_id
from agent_stream.server import RunManager
from agent_stream.server.redis import RedisStore
from tests.redis_helpers import RedisServer
from tests.server.conftest import frames
from tests.uvicorn_helpers import UvicornProcess

pytest.importorskip("redis")

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_a_retried_start_runs_the_stream_its_first_attempt_never_created(
    tmp_path: Path,
) -> None:
    with RedisServer(tmp_path) as redis:
        url = f"{redis.url}?prefix=idem&ttl_s=60"
        owner, key = f"Bearer {uuid.uuid4().hex}", uuid.uuid4().hex
        # the first attempt: the key bound, then its process died before creating the stream
        store = RedisStore.from_url(url)
        try:
            reserved = new_stream_id()
            bound = await RunManager(store).claim_idempotency_key(key, owner, reserved, ttl_s=60)
        finally:
            await store.aclose()
        assert bound == reserved
        with UvicornProcess(
            "tests.server.app:create_app",
            factory=True,
            args=["--no-access-log"],
            env={"TEST_REDIS_URL": url},
        ) as worker:
            headers = {"authorization": owner, "idempotency-key": key}
            with anyio.fail_after(20):
                async with httpx.AsyncClient(base_url=worker.url, timeout=10) as client:
                    async with client.stream(
                        "POST", "/chat?tag=idem&n=3", headers=headers
                    ) as response:
                        status = response.status_code
                        seen = [f async for f in frames(response)]
                    again = await client.post("/chat?tag=idem&n=3", headers=headers)
                    started = (await client.get("/wait/idem?key=started&timeout_s=0")).json()
    assert status == 200, seen
    assert json.loads(seen[0].data or "")["stream_id"] == reserved
    assert [f.event for f in seen[1:]] == ["token", "token", "token", "done"]
    assert again.status_code == 200  # a third attempt resumes it, never runs it again
    assert started["started"] == 1
