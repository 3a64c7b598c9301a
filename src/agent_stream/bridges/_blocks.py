"""SSE blocks for the bridges: one ``data:`` line of JSON per block, our id on the last.

Both bridged formats (AG-UI, the AI SDK UI message stream) send one JSON object per SSE block.
One of our events may become several blocks; only the last carries ``id: <stream_id>:<seq>``, so
a client that loses the connection inside the group resumes from the previous event and gets
the whole group again (never half of it). An event that becomes no block still sends its id,
alone in a block, which no SSE client dispatches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from ..events import JSONValue

__all__ = ["derived_id", "encode_json", "join_blocks", "priming_block"]

encode_json = msgspec.json.Encoder().encode


def join_blocks(bodies: Sequence[bytes], stream_id: bytes, seq: int) -> bytes:
    """``data: <body>`` blocks; the last (or a bare one, if none) with ``id: <sid>:<seq>``."""
    if len(bodies) == 1:  # most events (a token in an open message): one format, no joins
        return b"id: %b:%d\ndata: %b\n\n" % (stream_id, seq, bodies[0])
    if not bodies:
        return b"id: %b:%d\n\n" % (stream_id, seq)
    head = b"".join([b"data: %b\n\n" % body for body in bodies[:-1]])
    return b"%bid: %b:%d\ndata: %b\n\n" % (head, stream_id, seq, bodies[-1])


def priming_block(stream_id: str, cursor: int, retry_ms: int) -> bytes:
    """The first bytes of a bridged response: the id in force and ``retry:``, no data.

    A block without data is never dispatched (WHATWG SSE), so clients that know nothing of our
    ids ignore it, while one that keeps ids can resume before the first event arrives.
    """
    return b"id: %b:%d\nretry: %d\n\n" % (stream_id.encode(), cursor, retry_ms)


def derived_id(kind: str, stream_id: str, seq: int = 0) -> str:
    """A stable id for something a bridge names (a message, a part) from its stream and seq.

    Deterministic, so a replay names it the same way; a digest, so the stream id (which a
    resume needs) does not leak into UI state that may be stored or shared.
    """
    digest = hashlib.blake2b(f"{stream_id}:{seq}".encode(), digest_size=9).hexdigest()
    return f"{kind}_{digest}"


def as_text(value: JSONValue) -> str:
    """A JSON value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return encode_json(value).decode()
