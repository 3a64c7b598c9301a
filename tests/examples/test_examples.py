"""examples/: each app starts with its one command and streams a whole run, without API keys.

The model apps talk to ``tests/demo/fake_provider.py`` (recorded Anthropic / OpenAI wire bytes
served on loopback, reached through the official SDKs' ``*_BASE_URL``); the Redis app gets a real
redis-server and runs its two uvicorn workers.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.client.processes import ServerProcess, serve
from tests.redis_helpers import RedisServer, free_port
from tests.uvicorn_helpers import ROOT, UvicornProcess

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def provider() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.demo.fake_provider:create_app", factory=True, args=["--no-access-log"]
    ) as server:
        yield server


def start(example: str, env: dict[str, str]) -> AbstractContextManager[ServerProcess]:
    port = free_port()
    argv = [sys.executable, str(EXAMPLES / example / "app.py")]
    # a worker listens once its app started (the port is only bound before that)
    env = {"PORT": str(port), **env}
    return serve(argv, env=env, timeout_s=60, ready=b"Application startup complete")


def wait_for_workers(server: ServerProcess, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while server.text().count("Application startup complete") < count:
        assert time.monotonic() < deadline, f"{count} workers not up:\n{server.text()}"
        assert server.proc.poll() is None, server.text()
        time.sleep(0.05)


def events_of(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def chat(server: ServerProcess, body: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    response = httpx.post(f"{server.url}/api/chat", json=body, timeout=60)
    assert response.status_code == 200, response.text
    events = events_of(response.text)
    types = [kind for kind, _ in events]
    assert types[0] == "start" and types[-1] == "done" and types.count("done") == 1, types
    return events


@pytest.mark.parametrize("example", ["fastapi_anthropic", "fastapi_openai", "langgraph"])
def test_model_example_runs_its_tools_and_answers(example: str, provider: UvicornProcess) -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": provider.url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": f"{provider.url}/v1",
    }
    with start(example, env) as server:
        events = chat(server, {"message": "What is 27 * 453?"})
    types = [kind for kind, _ in events]
    assert "tool_use" in types and "tool_result" in types and "token" in types, types
    assert not any(kind == "error" for kind in types), events


def test_redis_example_serves_from_two_workers_and_resumes(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    with (
        RedisServer(tmp_path / "redis") as redis,
        start("starlette_redis", {"REDIS_URL": redis.url}) as server,
    ):
        wait_for_workers(server, 2)
        pids = set()
        for _ in range(40):  # bounded: new connections land on either worker
            with httpx.Client() as client:
                pids.add(client.get(f"{server.url}/healthz", timeout=10).json()["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2, pids
        events = chat(server, {"message": "hi", "words": 3})
        head = httpx.post(
            f"{server.url}/api/chat",
            json={"message": "hi", "words": 3},
            headers={"Last-Event-ID": f"{events[0][1]['stream_id']}:2"},
            timeout=30,
        )
        assert head.status_code == 200, head.text
        resumed = [kind for kind, _ in events_of(head.text)]
        assert resumed[-1] == "done" and len(resumed) == len(events) - 2, resumed
