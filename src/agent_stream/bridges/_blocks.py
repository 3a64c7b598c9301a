"""SSE blocks for the bridges (written by :mod:`agent_stream.framing`): one ``data:`` line of
JSON per block, our id on the last.

Both bridged formats (AG-UI, the AI SDK UI message stream) send one JSON object per SSE block.
One of our events may become several blocks; only the last carries ``id: <stream_id>:<seq>``, so
a client that loses the connection inside the group resumes from the previous event and gets
the whole group again (never half of it). An event that becomes no block still sends its id,
alone in a block, which no SSE client dispatches.
"""

from __future__ import annotations

import hashlib

import msgspec

from ..events import JSONValue
from ..framing import data_blocks as join_blocks
from ..framing import priming_block

__all__ = ["derived_id", "encode_json", "join_blocks", "priming_block"]

encode_json = msgspec.json.Encoder().encode


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
