"""The encoders as a connection's wire format: read from the start, fold up to the cursor, send
the rest - the same bytes as an encoder that skipped and encoded by hand; a question they send
ends the response."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent_stream.bridges.ag_ui import AGUIEncoder
from agent_stream.bridges.ai_sdk import AISDKEncoder
from agent_stream.events import InputRequired, InputResponse, Start, Token
from agent_stream.framing import EndingFraming

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


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_a_question_sent_ends_the_response_a_question_folded_does_not(kind: str) -> None:
    run = stored(
        [
            Token(text="Where to? "),
            InputRequired(
                request_id="rq_1",
                prompt="Search the web?",
                choices=["approve", "deny"],
                tool_name="web_search",
                tool_use_id="tu_1",
            ),
            InputResponse(request_id="rq_1", status="answered", answer="approve"),
            Token(text="Searching."),
        ]
    )
    batches = [[(t, d) for _, t, d in run[:2]], [(t, d) for _, t, d in run[2:]]]
    live = MAKERS[kind]()
    assert isinstance(live, EndingFraming)
    live.read_after(0)

    def ends_after(framing: EndingFraming, first_seq: int, batch: list[tuple[str, bytes]]) -> bool:
        framing.events(first_seq, batch)
        return framing.ends_response

    assert not ends_after(live, 1, batches[0][:1])  # text: the response goes on
    assert ends_after(live, 2, batches[0][1:])  # the question, sent: the run / message ends
    assert not ends_after(live, 3, batches[1])  # the answer's events: the next response's
    resumed = MAKERS[kind]()
    resumed.read_after(2)
    assert isinstance(resumed, EndingFraming)
    assert not ends_after(resumed, 1, batches[0])  # folded, not sent: it waits for the answer
