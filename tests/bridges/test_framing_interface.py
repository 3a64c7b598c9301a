"""The encoders as a connection's wire format: read from the start, fold up to the cursor, send
the rest - the same bytes as an encoder that skipped and encoded by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent_stream.bridges.ag_ui import AGUIEncoder
from agent_stream.bridges.ai_sdk import AISDKEncoder
from agent_stream.events import Start

from .runs import ALL_RUNS, Encoder, stored, wire

SID = "s_framing"
MAKERS: dict[str, Callable[[], AGUIEncoder | AISDKEncoder]] = {
    "ag-ui": lambda: AGUIEncoder(SID, thread_id="t", run_id="r"),
    "ai-sdk": lambda: AISDKEncoder(SID),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("name", sorted(ALL_RUNS))
def test_read_after_fold_and_send_matches_skip_and_encode(kind: str, name: str) -> None:
    events = stored(ALL_RUNS[name])
    for cursor in range(len(events) + 1):
        framing = MAKERS[kind]()
        assert framing.read_after(cursor) == 0
        body = framing.open(Start(stream_id=SID), cursor=cursor, retry_ms=1000)
        body += framing.events(1, [(t, d) for _, t, d in events[:3]])
        body += framing.events(4, [(t, d) for _, t, d in events[3:]])
        reference: Encoder = MAKERS[kind]()
        assert body == wire(reference, events, after=cursor)
        assert framing.ping() == b": ping\n\n" and framing.reconnect() == b""
