"""Run the language-neutral SSE vectors in spec/conformance/sse/ against SSEDecoder.

Each vector runs with its own chunks, whole, byte by byte, split at seeded random points, and
(where the input ends on a line end) with a trailing unfinished block that must change nothing:
h11's ``tr()`` idea, so no chunk boundary goes untested.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_stream.errors import ProtocolError
from agent_stream.sse import Frame, ServerSentEvent, SSEDecoder

VECTOR_DIR = Path(__file__).resolve().parent.parent / "spec" / "conformance" / "sse"
TRAILER = b"data: never dispatched\nevent: nope\n: no blank line follows\nid: 99"


def load_vectors() -> list[Any]:
    out = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert set(doc) == {"description", "vectors"}, path
        for vector in doc["vectors"]:
            out.append(pytest.param(vector, id=f"{path.stem}: {vector['name']}"))
    return out


VECTORS = load_vectors()


def chunks_of(vector: dict[str, Any]) -> list[bytes]:
    if "chunks_base64" in vector:
        assert "chunks" not in vector
        return [base64.b64decode(c) for c in vector["chunks_base64"]]
    return [c.encode() for c in vector["chunks"]]


def _ends_on_a_line_end(param: Any) -> bool:
    (vector,) = param.values
    whole = b"".join(chunks_of(vector))
    return "error" not in vector and "options" not in vector and whole[-1:] in (b"", b"\r", b"\n")


def as_dict(event: ServerSentEvent) -> dict[str, Any]:
    return {"event": event.event, "data": event.data, "id": event.id, "retry": event.retry}


def frame_as_dict(frame: Frame) -> dict[str, Any]:
    event, data, event_id, retry = frame
    return {"event": event, "data": data, "id": event_id, "retry": retry}


# Both entry points run every vector: feed() (ServerSentEvent) and feed_frames() (tuples).
ENTRIES = pytest.mark.parametrize("entry", ["feed", "feed_frames"])


def splits(chunks: list[bytes], seed: str) -> Iterator[tuple[str, list[bytes]]]:
    whole = b"".join(chunks)
    yield "as given", chunks
    yield "whole", [whole]
    yield "byte by byte", [whole[i : i + 1] for i in range(len(whole))]
    rng = random.Random(seed)
    for n in range(4):
        cuts = sorted(rng.sample(range(len(whole) + 1), min(len(whole) + 1, rng.randint(1, 6))))
        pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
        yield f"random split {n}", pieces


def run(
    vector: dict[str, Any], chunks: list[bytes], entry: str = "feed"
) -> tuple[list[Any], Any, SSEDecoder]:
    """Feed ``chunks`` then close; the events delivered and the error raised (or None)."""
    decoder = SSEDecoder(**vector.get("options", {}))
    events: list[Any] = []
    try:
        for chunk in chunks:
            if entry == "feed_frames":
                events.extend(frame_as_dict(f) for f in decoder.feed_frames(chunk))
            else:
                events.extend(as_dict(e) for e in decoder.feed(chunk))
        events.extend(as_dict(e) for e in decoder.close())
    except ProtocolError as exc:
        return events, exc, decoder
    return events, None, decoder


@ENTRIES
@pytest.mark.parametrize("vector", VECTORS)
def test_vector(vector: dict[str, Any], entry: str) -> None:
    chunks = chunks_of(vector)
    for how, pieces in splits(chunks, vector["name"]):
        events, error, decoder = run(vector, pieces, entry)
        if "error" in vector:
            assert error is not None, f"{how}: expected {vector['error']}, got events {events}"
            assert error.code == vector["error"]["code"], how
            assert events == vector["events_before_error"], how
            # A failed decoder keeps failing with the same error.
            with pytest.raises(ProtocolError) as again:
                decoder.feed(b"data: more\n\n")
            assert again.value is error
            continue
        assert error is None, f"{how}: {error!r}"
        assert events == vector["events"], how
        if "last_event_id" in vector:
            assert decoder.last_event_id == vector["last_event_id"], how
        if "retry" in vector:
            assert decoder.retry == vector["retry"], how


# Only inputs that end on a line end, decode without error and run without a size limit: after
# any other input the trailer would continue a line or count against the limit.
@ENTRIES
@pytest.mark.parametrize("vector", [p for p in VECTORS if _ends_on_a_line_end(p)])
def test_vector_with_trailing_unfinished_block(vector: dict[str, Any], entry: str) -> None:
    """Bytes after the input that never end a block change nothing the input decoded to."""
    chunks = chunks_of(vector)
    for how, pieces in splits([*chunks, TRAILER], vector["name"] + "/trailer"):
        events, error, decoder = run(vector, pieces, entry)
        assert error is None, how
        assert events == vector["events"], how
        if "last_event_id" in vector:
            assert decoder.last_event_id == vector["last_event_id"], how
        if "retry" in vector:
            assert decoder.retry == vector["retry"], how


def test_vector_files_are_well_formed() -> None:
    keys = {"name", "chunks", "chunks_base64", "events", "last_event_id", "retry", "options"}
    keys |= {"error", "events_before_error"}
    names = set()
    assert len(VECTORS) >= 60
    for param in VECTORS:
        (vector,) = param.values
        assert set(vector) <= keys, vector["name"]
        assert ("chunks" in vector) != ("chunks_base64" in vector), vector["name"]
        assert vector["name"] not in names
        names.add(vector["name"])
        if "error" in vector:
            assert vector["events"] == [] and "events_before_error" in vector
        for event in vector["events"]:
            assert set(event) == {"event", "data", "id", "retry"}
