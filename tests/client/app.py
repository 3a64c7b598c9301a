"""A small agent-stream server for client tests, run by uvicorn in its own process.

Deterministic: the events of a stream are a function of the request (``tokens``, ``tools``),
so a resume replays exactly what the first response would have sent. Knobs (query parameters
or JSON fields): ``tokens``, ``tools``, ``status`` (answer that HTTP status instead),
``die_after`` (the process exits abruptly after that many events), ``stall_after`` (stop sending
but keep the socket open), ``heartbeat_ms``, ``drop_after`` (end the response without ``done``
after that many events, once per stream; with ``forget`` the stream is then unknown, so the
resume gets 404), ``reconnect_after`` (send ``reconnect`` then end, once per stream),
``unknown`` (send an event of an unknown type first), ``slow`` (10 ms between events),
``tool_ms`` (how long each tool runs), ``peer`` (count the request under that tag and the
client's port: which connection it came on), ``bad_token`` (that seq is a token with no ``text``),
``big_token_chars`` (the first token's text is that many characters), ``max_event_bytes`` (the
size the ``start`` event announces; none by default: this server does not enforce one).
A stop ends the stream with
``done{reason: "cancelled"}``. ``GET /counts`` answers how many requests each path and status saw.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_stream.emitter import AgentStreamEmitter
from agent_stream.events import UnknownEvent

TEXT = "Héllo wörld — 日本語 ✓ 🎉 "

counts: Counter[str] = Counter()
streams: dict[str, tuple[list[bytes], dict[str, Any]]] = {}
once: set[str] = set()
stopped: set[str] = set()


def _frames(stream_id: str, knobs: dict[str, Any]) -> list[bytes]:
    emitter = AgentStreamEmitter(stream_id)
    frames: list[str] = []
    tokens = int(knobs.get("tokens", 20))
    tools = int(knobs.get("tools", 1))
    if knobs.get("unknown"):
        frames.append(emitter.emit(UnknownEvent("future_thing", {"x": [1, 2]})))
    frames.append(emitter.turn(1, total_tools=tools))
    thinking = int(knobs.get("thinking", 0))
    for i in range(tokens):
        if i < thinking:
            frames.append(emitter.thinking(f"hmm {i} "))
        if i == int(knobs.get("bad_token", -1)):
            frames.append(emitter.emit(UnknownEvent("token", {"txt": "no text"})))
        big = int(knobs.get("big_token_chars", 0)) if i == 0 else 0
        frames.append(emitter.token("x" * big if big else f"{TEXT}{i} "))
        if tools and i == tokens // 2:
            for t in range(tools):
                frames.append(emitter.tool_use("search", f"tu_{t}", f"query={t}"))
                frames.append(emitter.tool_result("search", f"tu_{t}", "3 results", 12))
            frames.append(emitter.progress("search", 50, "half way"))
    frames.append(emitter.done(message_id="msg_1", num_turns=1, tool_count=tools))
    return [f.encode() for f in frames]


def _priming(stream_id: str, cursor: int, knobs: dict[str, Any], resumed: bool) -> bytes:
    start = {
        "stream_id": stream_id,
        "protocol_version": 1,
        "heartbeat_ms": int(knobs.get("heartbeat_ms", 15000)),
        "resume_url": f"/api/streams/{stream_id}",
        "stop_url": f"/api/streams/{stream_id}/stop",
        "resumed": resumed,
    }
    if "max_event_bytes" in knobs:
        start["max_event_bytes"] = int(knobs["max_event_bytes"])
    data = json.dumps(start, separators=(",", ":"))
    return f"id: {stream_id}:{cursor}\nretry: 1000\nevent: start\ndata: {data}\n\n".encode()


async def _knobs(request: Request) -> dict[str, Any]:
    knobs: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body:
            knobs.update(json.loads(body))
    return knobs


async def chat(request: Request) -> Response:
    knobs = await _knobs(request)
    status = int(knobs.get("status", 200))
    counts[f"{request.url.path} {status}"] += 1
    if "peer" in knobs and request.client is not None:
        counts[f"peer {knobs['peer']} {request.client.port}"] += 1
    if status >= 400:
        return JSONResponse({"error": {"code": "test", "message": "asked for"}}, status)
    last_event_id = request.headers.get("last-event-id")
    if request.headers.get("idempotency-key"):
        counts["idempotency-keys " + ("resume" if last_event_id else "first")] += 1
    if last_event_id is None:
        counts["runs_started"] += 1
        stream_id = secrets.token_urlsafe(16)
        streams[stream_id] = (_frames(stream_id, knobs), knobs)
        return _respond(stream_id, 0, resumed=False)
    return _resume(last_event_id)


async def resume(request: Request) -> Response:
    counts[f"resume {request.path_params['sid']}"] += 1
    return _resume(request.headers.get("last-event-id", ""))


def _resume(last_event_id: str) -> Response:
    counts["resumes"] += 1
    stream_id, _, seq = last_event_id.rpartition(":")
    if stream_id not in streams or not seq.isdigit():
        return JSONResponse({"error": {"code": "unknown-stream", "message": "no"}}, 404)
    return _respond(stream_id, int(seq), resumed=True)


def _respond(stream_id: str, cursor: int, *, resumed: bool) -> Response:
    frames, knobs = streams[stream_id]

    async def body() -> AsyncIterator[bytes]:
        yield _priming(stream_id, cursor, knobs, resumed)
        for seq in range(cursor + 1, len(frames) + 1):
            await anyio.lowlevel.checkpoint()
            if seq == int(knobs.get("die_after", -1)):
                os._exit(1)
            if seq == int(knobs.get("stall_after", -1)):
                await anyio.sleep(60)
            if seq == int(knobs.get("drop_after", -1)) and f"drop {stream_id}" not in once:
                once.add(f"drop {stream_id}")
                if knobs.get("forget"):
                    del streams[stream_id]
                return
            if seq == int(knobs.get("reconnect_after", -1)) and f"rc {stream_id}" not in once:
                once.add(f"rc {stream_id}")
                yield b'event: reconnect\ndata: {"reason":"server-shutdown"}\n\n'
                return
            if stream_id in stopped:
                yield (
                    f'id: {stream_id}:{seq}\nevent: done\ndata: {{"reason":"cancelled"}}\n\n'
                ).encode()
                return
            yield frames[seq - 1]
            if b"event: tool_use" in frames[seq - 1]:
                await anyio.sleep(float(knobs.get("tool_ms", 0)) / 1000)
            if knobs.get("slow"):
                await anyio.sleep(0.01)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"X-Agent-Stream-Id": stream_id, "Cache-Control": "no-cache"},
    )


async def stop(request: Request) -> Response:
    counts["stops"] += 1
    stopped.add(request.path_params["sid"])
    return JSONResponse({"stopped": True})


async def get_counts(request: Request) -> Response:
    return JSONResponse(dict(counts))


app = Starlette(
    routes=[
        Route("/api/chat", chat, methods=["GET", "POST"]),
        Route("/api/streams/{sid}", resume, methods=["GET"]),
        Route("/api/streams/{sid}/stop", stop, methods=["POST"]),
        Route("/counts", get_counts),
    ]
)
