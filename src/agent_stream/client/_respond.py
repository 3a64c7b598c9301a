"""``respond()``: answer a stream's ``input_required`` over plain HTTP (kept apart from the
stream loop: it only needs the pending question, the stream's URL and its credentials)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import httpx
import msgspec

from ..errors import HTTPStatusError, UsageError
from ..events import UNSET, InputRequired, JSONValue

__all__ = ["post_answer", "respond_target"]

# Transport failures are retried with the same Idempotency-Key: the server answers a repeat
# of an accepted answer with its 200, so a lost response never turns into a 409.
_ATTEMPTS = 3


def respond_target(
    pending: InputRequired | None, request_id: str | None, url: str | None, base: str | None
) -> tuple[str, httpx.URL]:
    """(request_id, absolute URL) to POST an answer to; UsageError when there is none."""
    if request_id is None:
        if pending is None:
            raise UsageError(
                "respond() needs a pending input_required; the stream has none (pass "
                "request_id= and url= to answer another one)",
                code="no-input-required",
            )
        request_id = pending.request_id
    if url is None and pending is not None and pending.respond_url is not UNSET:
        url = pending.respond_url
    if url is None:
        raise UsageError(
            "respond() needs a URL: the input_required named no respond_url; pass url=",
            code="no-respond-url",
        )
    target = httpx.URL(url)
    if base is not None and not target.is_absolute_url:
        target = httpx.URL(base).join(target)
    return request_id, target


async def post_answer(
    http: httpx.AsyncClient,
    url: httpx.URL,
    request_id: str,
    answer: JSONValue,
    *,
    cancel: bool = False,
    headers: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, JSONValue]:
    """POST ``{"request_id", "answer"}`` (or ``"cancel": true``); the server's 200 body.

    Raises :class:`HTTPStatusError` for 400 and more (404 unknown, 409 already answered, 410
    expired or closed, 422 refused with the reason in the body), never retried.
    """
    body: dict[str, JSONValue] = {"request_id": request_id}
    if cancel:
        body["cancel"] = True
    else:
        body["answer"] = answer
    sent = dict(headers or {})
    sent["content-type"] = "application/json"
    sent["idempotency-key"] = idempotency_key or secrets.token_urlsafe(16)
    content = msgspec.json.encode(body)
    for attempt in range(_ATTEMPTS):
        try:
            response = await http.post(url, content=content, headers=sent)
        except httpx.TransportError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        text = response.text
        if response.status_code >= 400:
            raise HTTPStatusError(
                f"POST {url} answered {response.status_code} {response.reason_phrase}: "
                f"{text[:200]!r}",
                status_code=response.status_code,
                body=text,
                headers=dict(response.headers),
                url=str(url),
            )
        result: dict[str, JSONValue] = msgspec.json.decode(text)
        return result
    raise AssertionError("unreachable")  # the loop returns or raises
