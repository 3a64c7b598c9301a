"""A blocking wrapper over :class:`AgentStreamClient` for scripts and notebooks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..events import JSONValue
from ..resume import StreamEvent
from ..state import StreamState
from ._client import AgentStreamClient

__all__ = ["SyncAgentStreamClient", "stream_sync"]


class SyncAgentStreamClient:
    """The async client run on an event loop in a background thread.

    Takes the options of :class:`AgentStreamClient`. Use it as a context manager (or call
    :meth:`close`) so the thread ends::

        with SyncAgentStreamClient() as client:
            for event in client.stream(url, json={"message": "hi"}):
                ...
    """

    def __init__(self, **options: Any) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        try:
            self._client: AgentStreamClient = self._portal.call(lambda: _make(options))
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @property
    def state(self) -> StreamState:
        return self._client.state

    @property
    def client(self) -> AgentStreamClient:
        """The async client underneath (its ``failure``, ``reconnects``, ``stream_id``)."""
        return self._client

    def stream(
        self,
        url: str,
        *,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        params: Mapping[str, str | int | float] | None = None,
    ) -> Iterator[StreamEvent]:
        """Like :meth:`AgentStreamClient.stream`, blocking."""
        agen = self._client.stream(url, json=json, headers=headers, method=method, params=params)
        try:
            while True:
                try:
                    yield self._portal.call(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self._portal.call(agen.aclose)

    def respond(
        self,
        answer: JSONValue = None,
        *,
        cancel: bool = False,
        request_id: str | None = None,
        url: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, JSONValue]:
        """Answer the pending ``input_required`` (see :meth:`AgentStreamClient.respond`)."""
        return self._portal.call(
            lambda: self._client.respond(
                answer,
                cancel=cancel,
                request_id=request_id,
                url=url,
                idempotency_key=idempotency_key,
            )
        )

    def stop(self) -> None:
        """Cancel the current run on the server (see :meth:`AgentStreamClient.stop`)."""
        self._portal.call(self._client.stop)

    def close(self) -> None:
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> SyncAgentStreamClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _make(options: dict[str, Any]) -> AgentStreamClient:
    # made inside the portal's loop: httpx binds its connection pool to the running loop
    return AgentStreamClient(**options)


def stream_sync(
    url: str,
    *,
    json: object = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    params: Mapping[str, str | int | float] | None = None,
    **options: Any,
) -> Iterator[StreamEvent]:
    """Yield the events of one stream, blocking; ``options`` go to :class:`AgentStreamClient`.

    Example::

        for event in stream_sync("http://127.0.0.1:8000/api/chat", json={"message": "hi"}):
            print(event.type, event.data)
    """
    with SyncAgentStreamClient(**options) as client:
        yield from client.stream(url, json=json, headers=headers, method=method, params=params)
