"""What the resume core asks of its adapter: the next request, a retry, or the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..events import Done, DoneReason

__all__ = ["GiveUp", "LostKind", "RequestPlan", "Retry"]

#: How a connection was lost: refused before sending (``connect``), a network error
#: (``network``), silence past the liveness deadline (``stalled``), the body ended before
#: ``done`` (``eof``), or the server's ``reconnect`` event (``reconnect``).
LostKind = Literal["connect", "network", "stalled", "eof", "reconnect"]


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """The next request: the original one, or a resume from ``last_event_id``.

    ``resume_url`` (a reference as the server named it, to resolve against the request URL) is
    set when the resume is a GET of the stream's resume URL instead of the same request again.
    ``idempotency_key`` goes with the original request and every re-send of it, never with a
    resume.
    """

    last_event_id: str | None
    resume_url: str | None
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class Retry:
    """Wait ``delay_s`` seconds, then send :meth:`ResumeCore.request` again."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The stream cannot go on: end it with ``done`` (synthetic, with ``reason``).

    ``reason`` is ``"error"`` for a failure that is the server's answer (an HTTP status on the
    first request, bytes that break the protocol), ``"interrupted"`` when the connection could
    not be resumed, ``"cancelled"`` after a stop. ``code`` is the failure's stable code,
    ``failure`` the error itself (``None`` after a stop).
    """

    reason: DoneReason
    code: str
    failure: Exception | None

    @property
    def done(self) -> Done:
        return Done(reason=self.reason, synthetic=True)
