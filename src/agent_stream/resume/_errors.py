"""The typed errors the resume core ends a stream with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from ..errors import HTTPStatusError, ProtocolError, ResumeError
from ._actions import LostKind

__all__ = ["foreign_id_error", "lost_message", "resume_error", "status_error"]

_RESUME_CODES: Final = {400: "malformed-id", 404: "unknown-stream", 410: "expired"}


def lost_message(kind: LostKind, liveness_s: float) -> str:
    if kind == "stalled":
        return f"connection stalled: no bytes for {liveness_s:.1f}s"
    if kind == "eof":
        return "connection lost: the response ended before done"
    return f"connection lost ({kind})"


def foreign_id_error(event_id: str, stream_id: str) -> ProtocolError:
    return ProtocolError(
        f"event id {event_id!r} names another stream than {stream_id!r}; a response carries "
        "one stream",
        code="foreign-id",
        line=event_id,
    )


def status_error(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    method: str,
    url: str,
    reason_phrase: str,
) -> HTTPStatusError:
    return HTTPStatusError(
        f"{method} {url} answered {status} {reason_phrase}: {body[:200]!r}",
        status_code=status,
        body=body,
        headers=dict(headers),
        url=url,
    )


def resume_error(status: int, body: str, last_id: str) -> ResumeError | None:
    code = _RESUME_CODES.get(status)
    if code is None:
        return None
    earliest: object = None
    try:
        detail = json.loads(body).get("error", {})
        earliest = detail.get("earliest_id")
    except (ValueError, AttributeError):
        pass
    return ResumeError(
        f"cannot resume from {last_id!r}: the server answered {status} ({code})",
        code=code,
        last_event_id=last_id,
        earliest_id=earliest if isinstance(earliest, str) else None,
    )
