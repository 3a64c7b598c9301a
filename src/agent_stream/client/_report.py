"""Client reports: tell the server that this client ended a stream with a synthetic ``done``.

Best effort and bounded: one POST of a small JSON object to the ``report_url`` the stream's
``start`` announced, with the stream's own headers (the server checks the owner), a short
timeout, never retried, and any failure only logged at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

__all__ = ["send_report"]

logger = logging.getLogger("agent_stream")

REPORT_TIMEOUT_S = 2.0


async def send_report(
    http: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    *,
    reason: str,
    last_seq: int,
    attempts: int,
) -> bool:
    """POST one report; True when the server took it (any failure: False, never raised)."""
    body = {"reason": reason[:64], "last_seq": max(last_seq, 0), "attempts": attempts}
    try:
        response = await http.post(url, json=body, headers=headers, timeout=REPORT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        logger.debug("client report to %s failed: %s", url, exc)
        return False
    if response.status_code >= 300:
        logger.debug("client report to %s answered %d", url, response.status_code)
        return False
    return True
