"""The client's resume state machine, sans I/O: what to send, what to deliver, what to do next.

:class:`ResumeCore` holds one stream's cursor and decides every step the client takes; the
adapter (``agent_stream.client``) owns the sockets, the clock and the sleeping. The loop::

    core = ResumeCore(policy=RetryPolicy())
    while True:
        plan = core.request()                  # Last-Event-ID, resume URL, Idempotency-Key
        ...send it; on a failure before an answer: action = core.lost("network")
        action = core.response(status, headers, body=..., now_s=time.time())
        if action is None:                     # a 2xx event stream: read it
            for chunk in body:                 # each read bounded by core.liveness_s
                events = core.feed(chunk)      # deliver these, then look at core.outcome
        ...on EOF, an error or a silent socket: action = core.lost("eof" | "network" | "stalled")
        # action: Retry(delay_s) -> sleep, go round; GiveUp -> end with action.done

The TypeScript client runs the same machine (``js/packages/client/src/resume.ts``); both are
driven by the vectors in ``spec/conformance/client/`` (format in ``spec/conformance/README.md``).
Event ids follow the server's rule (``<stream_id>:<seq>``, stream id ``[A-Za-z0-9_-]{1,128}``,
seq ``0`` or 1-18 ASCII digits without a leading zero); any other id is opaque: passed on without
a seq and used as the cursor as it is.
"""

from __future__ import annotations

from ._actions import GiveUp, LostKind, RequestPlan, Retry
from ._core import ResumeCore
from ._event import StreamEvent
from ._retry import RetryPolicy, parse_retry_after

__all__ = [
    "GiveUp",
    "LostKind",
    "RequestPlan",
    "ResumeCore",
    "Retry",
    "RetryPolicy",
    "StreamEvent",
    "parse_retry_after",
]
