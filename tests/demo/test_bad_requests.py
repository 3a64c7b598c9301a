"""The demo answers bad requests with typed 4xx: oversize, slow, deep, abandoned bodies, blank ids.

Raw sockets against a real uvicorn, so the tests control exactly which bytes arrive and when.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from tests.uvicorn_helpers import UvicornProcess

from .conftest import APP

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def strict_server() -> Iterator[UvicornProcess]:
    """A demo whose body-read timeout is short enough to test, allowing one other origin."""
    env = {"AGENT_STREAM_BODY_TIMEOUT_S": "0.5", "AGENT_STREAM_ALLOW_ORIGINS": "http://app.test"}
    with UvicornProcess(APP, factory=True, env=env, args=["--no-access-log"]) as process:
        yield process


async def _answer(stream: SocketStream) -> tuple[int, dict[str, str], dict[str, object]]:
    """Read one HTTP/1.1 response with a Content-Length: (status, headers, JSON body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(rest) < int(headers["content-length"]):
        rest += await stream.receive()
    return int(status_line.split()[1]), headers, json.loads(rest)


def _head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
    demo_server: UvicornProcess,
) -> None:
    # 400 MB announced, 1 KiB sent: the answer must not wait for the rest.
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", demo_server.port) as stream:
            await stream.send(_head("/api/chat", Content_Length="400000000") + b"{" * 1024)
            status, _, body = await _answer(stream)
    assert status == 413
    assert body["error"] == {"code": "body-too-large", "message": body["error"]["message"]}  # type: ignore[index]


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    demo_server: UvicornProcess,
) -> None:
    chunk = b" " * 4096
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", demo_server.port) as stream:
            await stream.send(_head("/api/chat", Transfer_Encoding="chunked"))
            for _ in range(32):  # 128 KiB, twice the limit, and the body never ends
                await stream.send(framed)
            status, _, body = await _answer(stream)
    assert status == 413
    assert body["error"]["code"] == "body-too-large"  # type: ignore[index]


async def test_json_nested_a_thousand_deep_gets_a_typed_400(demo_server: UvicornProcess) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    bodies = [
        deep,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"request_id":"r","answer":' + deep + b"}",
    ]
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            started = await client.post("/api/chat", json={"tokens": 1, "token_delay_ms": 0})
            stream_id = started.headers["x-agent-stream-id"]
            # every demo route that reads JSON: ours, the bridges', the answer route
            for path in (
                "/api/chat",
                "/api/ag-ui",
                "/api/ai-sdk/chat",
                f"/api/streams/{stream_id}/respond",
            ):
                for body in bodies:
                    response = await client.post(
                        path, content=body, headers={"content-type": "application/json"}
                    )
                    assert response.status_code == 400, (path, response.text)
                    assert response.json()["error"]["code"] == "invalid-request"
                    assert "deep" in response.json()["error"]["message"]


async def test_a_body_shorter_than_its_content_length_gets_408(
    strict_server: UvicornProcess,
) -> None:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", strict_server.port) as stream:
            await stream.send(_head("/api/chat", Content_Length="100") + b'{"tokens":')
            status, _, body = await _answer(stream)
    assert status == 408
    assert body["error"]["code"] == "body-timeout"  # type: ignore[index]


async def test_a_client_leaving_mid_body_is_counted_not_logged_as_a_crash(
    strict_server: UvicornProcess,
) -> None:
    async with httpx.AsyncClient(base_url=strict_server.url) as client:
        before = (await client.get("/healthz")).json()["refused"].get("client-disconnected", 0)
        with anyio.fail_after(5):
            async with await anyio.connect_tcp("127.0.0.1", strict_server.port) as stream:
                await stream.send(_head("/api/chat", Content_Length="1000") + b'{"tok')
            while True:  # the server counts the refusal once it has seen the client leave
                refused = (await client.get("/healthz")).json()["refused"]
                if refused.get("client-disconnected", 0) > before:
                    break
                await anyio.sleep(0.02)
    log = strict_server.log_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log


async def test_a_blank_last_event_id_gets_400_and_starts_no_run(
    demo_server: UvicornProcess,
) -> None:
    body = b'{"tokens": 1, "token_delay_ms": 0}'
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(5):
            before = (await client.get("/healthz")).json()["runs_started"]
            for blank in ("", " ", "\t  "):
                async with await anyio.connect_tcp("127.0.0.1", demo_server.port) as stream:
                    head = _head("/api/chat", Content_Length=str(len(body)))
                    await stream.send(head[:-2] + f"Last-Event-ID:{blank}\r\n\r\n".encode() + body)
                    status, _, answer = await _answer(stream)
                assert status == 400, answer
                assert answer["error"]["code"] == "malformed-id"  # type: ignore[index]
            assert (await client.get("/healthz")).json()["runs_started"] == before


async def test_other_sites_pages_cannot_start_runs(demo_server: UvicornProcess) -> None:
    # What a browser sends for a page of another site: a text/plain POST (no preflight) and an
    # <img>/EventSource GET; both used to start runs.
    cross = {"sec-fetch-site": "cross-site", "origin": "http://evil.test"}
    async with httpx.AsyncClient(base_url=demo_server.url) as client:
        with anyio.fail_after(10):
            before = (await client.get("/healthz")).json()["runs_started"]
            for request in (
                client.build_request(
                    "POST",
                    "/api/chat",
                    content=b'{"tokens": 1}',
                    headers={**cross, "content-type": "text/plain"},
                ),
                client.build_request(
                    "GET", "/api/chat?tokens=1", headers={"sec-fetch-site": "cross-site"}
                ),
                client.build_request(
                    "GET", "/api/chat?tokens=1", headers={"sec-fetch-site": "same-site"}
                ),
            ):
                response = await client.send(request)
                assert response.status_code == 403, response.text
                assert response.json()["error"]["code"] == "cross-site-request"
            assert (await client.get("/healthz")).json()["runs_started"] == before
            # the page's own requests, navigations and non-browser clients still work
            for headers in ({"sec-fetch-site": "same-origin"}, {"sec-fetch-site": "none"}, {}):
                response = await client.get("/api/chat?tokens=1&token_delay_ms=0", headers=headers)
                assert response.status_code == 200 and "event: done" in response.text


async def test_an_allowed_origin_may_call_the_api(strict_server: UvicornProcess) -> None:
    async with httpx.AsyncClient(base_url=strict_server.url) as client:
        with anyio.fail_after(10):
            allowed = {"sec-fetch-site": "cross-site", "origin": "http://app.test"}
            response = await client.get("/api/chat?tokens=1&token_delay_ms=0", headers=allowed)
            assert response.status_code == 200 and "event: done" in response.text
            other = {"sec-fetch-site": "cross-site", "origin": "http://app.test.evil.test"}
            response = await client.get("/api/chat?tokens=1&token_delay_ms=0", headers=other)
            assert response.status_code == 403


RESPOND = "/api/streams/AAAAAAAAAAAAAAAAAAAAAA/respond"


async def test_the_respond_route_refuses_a_body_declared_over_its_limit_unread(
    demo_server: UvicornProcess,
) -> None:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", demo_server.port) as stream:
            await stream.send(_head(RESPOND, Content_Length="400000000") + b"{" * 1024)
            status, headers, body = await _answer(stream)
    assert status == 413
    assert body["error"]["code"] == "body-too-large"  # type: ignore[index]
    assert headers["cache-control"] == "no-store"


async def test_the_respond_route_answers_a_body_shorter_than_its_length_408(
    strict_server: UvicornProcess,
) -> None:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", strict_server.port) as stream:
            await stream.send(_head(RESPOND, Content_Length="100") + b'{"request_id":')
            status, _, body = await _answer(stream)
    assert status == 408
    assert body["error"]["code"] == "body-timeout"  # type: ignore[index]


async def test_an_answer_abandoned_mid_body_is_no_crash(strict_server: UvicornProcess) -> None:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", strict_server.port) as stream:
            await stream.send(_head(RESPOND, Content_Length="1000") + b'{"requ')
    # nothing marks a handled abandoned request (no access log, nobody to answer): a crash
    # is logged within milliseconds, so give it a bounded while to show up
    crashed = await anyio.to_thread.run_sync(
        strict_server.wait_for_log, "Exception in ASGI application", 1.5
    )
    log = strict_server.log_text()
    assert not crashed, log
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
