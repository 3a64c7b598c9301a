"""The demo app against a real uvicorn process: knobs, failures, counters, owners, bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from agent_stream.recording import group_streams, read_recording
from tests.uvicorn_helpers import UvicornProcess

from .conftest import APP, Run, read_run

pytestmark = pytest.mark.anyio


def owner() -> dict[str, str]:
    return {"Authorization": f"Bearer {uuid.uuid4().hex}"}


def assert_one_done_last(run: Run) -> None:
    types = run.types()
    assert types.count("done") == 1 and types[-1] == "done", types
    assert [f.seq for f in run.events] == list(range(1, len(run.events) + 1))


async def test_post_knobs_shape_the_run(demo_server: UvicornProcess) -> None:
    body = {"message": "Hi 👋 Zoë", "tokens": 7, "token_delay_ms": 0, "tools": 3}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            run = await read_run(client, "POST", "/api/chat", json=body, headers=owner())
    assert run.status == 200
    assert_one_done_last(run)
    types = run.types()
    assert types.count("token") == 7
    assert types.count("tool_use") == types.count("tool_result") == 3
    assert {"thinking", "progress", "creation", "turn"} <= set(types)
    uses, results = run.data("tool_use"), run.data("tool_result")
    assert [u["tool_use_id"] for u in uses] == [r["tool_use_id"] for r in results]
    assert all(isinstance(u["input"], dict) for u in uses)
    text = "".join(str(t["text"]) for t in run.data("token"))
    assert "“Hi 👋 Zoë”" in text
    done = run.data("done")[0]
    assert done["tool_count"] == 3 and done["model"] == "demo-scripted-1"
    percentages = [float(str(p["percentage"])) for p in run.data("progress")]
    assert percentages == sorted(percentages) and percentages[-1] == 100


async def test_get_query_knobs_match_post(demo_server: UvicornProcess) -> None:
    query = {"tokens": "4", "token_delay_ms": "0", "tools": "1", "input_required": "true"}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            got = await read_run(client, "GET", "/api/chat", params=query, headers=owner())
            posted = await read_run(
                client,
                "POST",
                "/api/chat",
                json={"tokens": 4, "token_delay_ms": 0, "tools": 1, "input_required": True},
                headers=owner(),
            )
    assert got.types() == posted.types()
    assert got.types().count("token") == 4 and "input_required" in got.types()


async def test_ten_thousand_tokens(demo_server: UvicornProcess) -> None:
    body = {"tokens": 10_000, "token_delay_ms": 0, "tools": 0}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(30):
            run = await read_run(client, "POST", "/api/chat", json=body, headers=owner())
    assert_one_done_last(run)
    assert run.types().count("token") == 10_000


async def test_fail_after_sends_error_then_done(demo_server: UvicornProcess) -> None:
    body = {"tokens": 50, "token_delay_ms": 0, "fail_after": 5}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            run = await read_run(client, "POST", "/api/chat", json=body, headers=owner())
    assert_one_done_last(run)
    assert len(run.events) == 5 + 2
    assert run.types()[-2:] == ["error", "done"]
    error = run.data("error")[0]
    assert error["error_type"] == "DemoFailure" and "fail_after" in str(error["message"])
    assert "traceback" not in json.dumps(error)
    assert run.data("done")[0]["reason"] == "error"


async def test_healthz_counts_runs(demo_server: UvicornProcess) -> None:
    body = {"tokens": 1_000, "token_delay_ms": 20}
    auth = owner()
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        before = (await client.get("/healthz")).json()
        assert before["pid"] == demo_server.pid
        with anyio.fail_after(10):
            run = await read_run(client, "POST", "/api/chat", json=body, headers=auth, stop_after=1)
            during = (await client.get("/healthz")).json()
            assert during["runs_started"] == before["runs_started"] + 1
            assert during["runs_active"] >= 1
            stop = await client.post(f"/api/streams/{run.stream_id}/stop", headers=auth)
            assert stop.json() == {"stopped": True, "outcome": "stopped"}
            rest = await read_run(
                client,
                "GET",
                f"/api/streams/{run.stream_id}",
                headers={**auth, "Last-Event-ID": run.events[-1].id or ""},
            )
        assert rest.data("done")[0]["reason"] == "cancelled"
        after = (await client.get("/healthz")).json()
        assert after["runs_started"] == during["runs_started"]
        assert after["runs_active"] == during["runs_active"] - 1


async def test_streams_belong_to_their_authorization(demo_server: UvicornProcess) -> None:
    alice, bob = owner(), owner()
    body = {"tokens": 20, "token_delay_ms": 0}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            run = await read_run(client, "POST", "/api/chat", json=body, headers=alice)
            sid = run.stream_id
            cursor = {"Last-Event-ID": f"{sid}:3"}
            for headers in (bob, {}):  # another owner, or none: same answer as unknown
                foreign = await client.get(f"/api/streams/{sid}", headers={**headers, **cursor})
                assert foreign.status_code == 404
                assert foreign.json()["error"]["code"] == "unknown-stream"
                again = await client.post("/api/chat", json=body, headers={**headers, **cursor})
                assert again.status_code == 404
                stop = await client.post(f"/api/streams/{sid}/stop", headers=headers)
                assert stop.status_code == 404
            mine = await read_run(client, "GET", f"/api/streams/{sid}", headers={**alice, **cursor})
    assert [f.raw for f in mine.events] == [f.raw for f in run.events[3:]]


async def test_same_request_with_last_event_id_resumes_without_a_new_run(
    demo_server: UvicornProcess,
) -> None:
    auth = owner()
    body = {"tokens": 300, "token_delay_ms": 2, "tools": 1}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        started = (await client.get("/healthz")).json()["runs_started"]
        with anyio.fail_after(20):
            first = await read_run(
                client, "POST", "/api/chat", json=body, headers=auth, stop_after=25
            )
            last_id = first.events[-1].id or ""
            rest = await read_run(
                client, "POST", "/api/chat", json=body, headers={**auth, "Last-Event-ID": last_id}
            )
        assert (await client.get("/healthz")).json()["runs_started"] == started + 1
    assert json.loads(rest.frames[0].data or "")["resumed"] is True
    events = first.events + rest.events
    assert [f.seq for f in events] == list(range(1, len(events) + 1))
    assert [f.event for f in events].count("token") == 300
    assert events[-1].event == "done"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"not json", "invalid-request"),
        (b"[1, 2]", "invalid-request"),
        (b'{"tokens": 1000001}', "invalid-request"),
        (b'{"tokens": -1}', "invalid-request"),
        (b'{"tokens": "many"}', "invalid-request"),
        (b'{"tools": 1.5}', "invalid-request"),
        (b'{"message": 42}', "invalid-request"),
        (b'{"token_delay_ms": 1e9}', "invalid-request"),
    ],
)
async def test_bad_bodies_get_typed_400s(
    demo_server: UvicornProcess, content: bytes, code: str
) -> None:
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(5):
            response = await client.post("/api/chat", content=content, headers=owner())
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


async def test_bad_query_knob_names_the_knob(demo_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        response = await client.get("/api/chat", params={"tokens": "abc"})
    assert response.status_code == 400
    assert "tokens" in response.json()["error"]["message"]


async def test_sse_control_text_in_the_message_injects_no_frame(
    demo_server: UvicornProcess,
) -> None:
    message = 'hi\n\nevent: done\ndata: {"injected": true}\n\nid: x:999\r\n'
    body = {"message": message, "tokens": 30, "token_delay_ms": 0}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            response = await client.post("/api/chat", json=body, headers=owner())
    raw = response.content
    blocks = raw.split(b"\n\n")[:-1]
    # every block is exactly one well-formed frame of the protocol
    for block in blocks:
        lines = block.split(b"\n")
        assert all(
            line.split(b": ", 1)[0] in (b"id", b"event", b"data", b"retry") for line in lines
        )
    lines = raw.split(b"\n")
    assert lines.count(b"event: done") == 1
    assert not [line for line in lines if line.startswith(b"id: x:")]
    data = [json.loads(line[6:]) for line in lines if line.startswith(b"data: ")]
    assert {"injected": True} not in data
    assert b"\r" not in raw
    text = "".join(
        json.loads(b.split(b"data: ", 1)[1])["text"] for b in blocks if b"event: token" in b
    )
    assert f"“{message}”" in text


async def test_index_serves_the_built_page_and_assets(demo_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        page = await client.get("/")
        asset = await client.get("/assets/app.js")
    assert page.status_code == 200 and "<title>built</title>" in page.text
    assert asset.status_code == 200 and "agent-stream demo" in asset.text


async def test_placeholder_page_and_recording(tmp_path: Path) -> None:
    record = tmp_path / "runs.jsonl"
    env = {
        "AGENT_STREAM_STATIC_DIR": str(tmp_path / "not-built"),
        "AGENT_STREAM_RECORD": str(record),
    }
    body = {"tokens": 40, "token_delay_ms": 0, "tools": 2}
    with UvicornProcess(APP, factory=True, env=env, args=["--no-access-log"]) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert "npm run build" in page.text and 'data-testid="agent-text"' in page.text
            assert (await client.get("/healthz")).json()["recording"] == str(record)
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    runs: list[Run] = []

                    async def one() -> None:
                        runs.append(await read_run(client, "POST", "/api/chat", json=body))

                    for _ in range(3):
                        tg.start_soon(one)
        # uvicorn re-raises the SIGTERM after a clean shutdown; the lifespan closed the recorder
        assert server.stop() in (0, -15)
        assert "Application shutdown complete" in server.log_text()
    streams = group_streams(read_recording(record))
    assert set(streams) == {run.stream_id for run in runs}
    for run in runs:
        recorded = streams[run.stream_id]
        assert [(e.seq, e.type, e.data.decode()) for e in recorded] == [
            (f.seq, f.event, f.data) for f in run.events
        ]
