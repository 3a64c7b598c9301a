"""Read a streamed response body: through httpx (the default), or straight from its connection.

The default reader is httpx's public ``response.aiter_raw()`` (``aiter_bytes()`` for a content
coding): one piece per HTTP chunk, and the connection goes back to httpx's pool after the body
ends, so a client reuses it for the next stream.

httpcore hands a chunked body out one h11 ``Data`` event per HTTP chunk, and an agent server
writes one chunk per event, so every event pays h11, httpcore and httpx's stream layers
(``bench/bench_client.py``: ~7 µs per event before any parsing). The opt-in direct reader
(``AgentStreamClient(direct_body=True)``) instead takes the connection httpx already made (TLS,
proxies and the pool stay httpx's) and reads its network stream directly: one ``read`` returns
every chunk the socket holds, decoded by :class:`ChunkedDecoder`. It reads private attributes of
httpx and httpcore, so it runs only with the versions it was tested with
(:data:`DIRECT_BODY_VERSIONS`), and where the response is not a plain HTTP/1.1 body over httpx's
default transport (HTTP/2, a mock or custom transport, a content coding, a changed httpcore) it
falls back to httpx's reader; the client warns when either happens. Its connection is closed
when the response is (h11 never saw the body end, so httpcore does not return it to the pool).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Final, Protocol

import h11
import httpcore
import httpx

__all__ = ["DIRECT_BODY_VERSIONS", "Body", "ChunkedDecoder", "direct_body_refusal", "open_body"]

#: The versions the direct reader was tested with: ``(package, lowest, below)``, release
#: numbers compared as tuples; outside them the client reads through httpx.
DIRECT_BODY_VERSIONS: Final = (
    ("httpx", (0, 27), (0, 30)),
    ("httpcore", (1, 0), (1, 1)),
    ("h11", (0, 14), (0, 17)),
)

_READ_BYTES: Final = 1 << 16
# RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, the size in hex. h11 accepts the same.
_CHUNK_HEADER: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\r\n]*)?[ \t]*\r\n")
# The same after a chunk's data, whose CRLF comes first.
_NEXT_CHUNK_HEADER: Final = re.compile(b"\r\n" + _CHUNK_HEADER.pattern)
_MAX_LINE: Final = 1 << 14  # a size line or trailer section longer than this is an attack


class ChunkedDecoder:
    """Sans-I/O decoder of the chunked transfer coding: ``feed(bytes)`` returns payload bytes.

    Malformed framing raises :class:`httpx.RemoteProtocolError` (as httpx would);
    :attr:`is_done` turns true after the last chunk and its trailer section, and :attr:`rest`
    then holds the bytes fed after that end (another response's, or garbage).
    """

    __slots__ = ("_after_data", "_pending", "_remaining", "_trailers", "is_done", "rest")

    def __init__(self) -> None:
        self._pending = b""  # framing bytes not yet complete (a size line cut by a read)
        self._remaining = 0  # payload bytes still due in the current chunk
        self._after_data = False  # a chunk's data ended: its CRLF comes next
        self._trailers = False  # the last chunk came: the trailer section comes next
        self.is_done = False
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        """The payload in ``data``; framing cut at its end is kept for the next call."""
        if self.is_done or not data:
            return b""
        pending = self._pending
        if pending:
            data = pending + data
            self._pending = b""
        remaining = self._remaining
        size = len(data)
        if remaining >= size:  # the whole read is chunk data
            self._remaining = remaining - size
            self._after_data = remaining == size
            return data
        out: list[bytes] = []
        pos = 0
        after = self._after_data
        if remaining:
            out.append(data[:remaining])
            pos = remaining
            after = True
        elif self._trailers:
            self._end_trailers(data, 0)
            return b""
        first, following = _CHUNK_HEADER.match, _NEXT_CHUNK_HEADER.match
        while pos < size:
            found = following(data, pos) if after else first(data, pos)
            if found is None:
                head = pos + 2 if after else pos
                if after and data[pos:head] != b"\r\n"[: size - pos]:
                    raise _framing_error("no CRLF after chunk data", data, pos)
                if data.find(b"\n", head) >= 0 or size - pos > _MAX_LINE:
                    raise _framing_error("bad chunk size line", data, head)
                self._pending = data[pos:]
                break
            chunk = int(found.group(1), 16)
            pos = found.end()
            if not chunk:
                after = False
                self._trailers = True
                self._end_trailers(data, pos)
                break
            end = pos + chunk
            if end > size:
                out.append(data[pos:])
                self._remaining = end - size
                self._after_data = False
                return b"".join(out)
            out.append(data[pos:end])
            pos = end
            after = True
        self._remaining = 0
        self._after_data = after
        return b"".join(out)

    def _end_trailers(self, data: bytes, pos: int) -> None:
        # trailer-section CRLF: field lines we ignore, then an empty line
        if pos == len(data):
            return
        if data.startswith(b"\r\n", pos):
            self.is_done = True
            self.rest = data[pos + 2 :]
            return
        end = data.find(b"\r\n\r\n", pos)
        if end >= 0:
            self.is_done = True
            self.rest = data[end + 4 :]
        elif len(data) - pos > _MAX_LINE:
            raise _framing_error("trailer section too long", data, pos)
        else:
            self._pending = data[pos:]


def _framing_error(what: str, data: bytes, pos: int) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(
        f"malformed chunked response body: {what} at {data[pos : pos + 40]!r}"
    )


class Body(Protocol):
    """A response body read piece by piece: :meth:`read` returns ``b""`` once it ended."""

    async def read(self) -> bytes: ...


class _IteratorBody:
    """The fallback: httpx's own iterator (one piece per HTTP chunk)."""

    __slots__ = ("_next",)

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._next = chunks.__anext__

    async def read(self) -> bytes:
        try:
            return await self._next()
        except StopAsyncIteration:
            return b""


class _NetworkBody:
    """The body read from httpcore's network stream, every read as big as the socket holds."""

    __slots__ = ("_chunked", "_leading", "_left", "_stream")

    def __init__(
        self, stream: httpcore.AsyncNetworkStream, leading: bytes, *, length: int | None
    ) -> None:
        self._stream = stream
        self._leading = leading  # body bytes that came with the headers, buffered in h11
        # chunked when length is None and _left is None; else bytes left, or -1 until EOF
        self._chunked = ChunkedDecoder() if length is None else None
        self._left = -1 if length is None or length < 0 else length

    async def read(self) -> bytes:
        chunked = self._chunked
        while True:
            if (chunked is not None and chunked.is_done) or self._left == 0:
                return b""
            data = self._leading
            if data:
                self._leading = b""
            else:
                try:
                    data = await self._stream.read(_READ_BYTES)
                except httpcore.ReadError as exc:
                    raise httpx.ReadError(str(exc)) from exc
                except httpcore.NetworkError as exc:
                    raise httpx.NetworkError(str(exc)) from exc
                if not data:
                    if chunked is not None or self._left > 0:
                        raise httpx.RemoteProtocolError(
                            "peer closed connection without sending complete message body"
                        )
                    return b""  # a body delimited by the connection's close
            if chunked is not None:
                data = chunked.feed(data)
                if data:
                    return data
                continue
            left = self._left
            if left > 0:
                if len(data) > left:
                    data = data[:left]  # what follows is not this response's
                self._left = left - len(data)
            return data


def direct_body_refusal() -> str | None:
    """Why the direct reader cannot run with the installed packages, or ``None`` if it can."""
    for package, lowest, below in DIRECT_BODY_VERSIONS:
        try:
            installed = version(package)
        except PackageNotFoundError:
            return f"{package} is not installed"
        release = tuple(int(part) for part in re.findall(r"\d+", installed)[:2])
        if not lowest <= release < below:
            wanted = f">={'.'.join(map(str, lowest))},<{'.'.join(map(str, below))}"
            return f"{package} {installed} is outside the tested range {wanted}"
    return None


def open_body(response: httpx.Response, *, direct: bool = False) -> Body:
    """A reader of ``response``'s body: httpx's, or (``direct``) its connection's when safe.

    Check :func:`direct_body_refusal` before asking for ``direct``; a direct reader that is
    not possible for this response gives httpx's reader (an instance of another class).
    """
    if direct:
        body = _network_body(response)
        if body is not None:
            return body
    # decoded bytes for a content coding, or when the body was read already (a mock transport)
    decoded = (
        response.headers.get("content-encoding", "identity").lower() != "identity"
        or response.is_stream_consumed
    )
    return _IteratorBody(response.aiter_bytes() if decoded else response.aiter_raw())


def _network_body(response: httpx.Response) -> _NetworkBody | None:
    # httpx: BoundAsyncStream -> AsyncResponseStream -> httpcore PoolByteStream ->
    # HTTP11ConnectionByteStream -> AsyncHTTP11Connection. Any other shape: not ours to read.
    stream = getattr(response.stream, "_stream", None)
    stream = getattr(stream, "_httpcore_stream", None)
    stream = getattr(stream, "_stream", None)
    connection = getattr(stream, "_connection", None)
    h11_state = getattr(connection, "_h11_state", None)
    network = response.extensions.get("network_stream")
    if (
        not isinstance(h11_state, h11.Connection)
        or not isinstance(network, httpcore.AsyncNetworkStream)
        or getattr(stream, "_closed", True) is not False
        or response.is_stream_consumed
        or response.http_version != "HTTP/1.1"
        or response.request.method == "HEAD"
        or h11_state.their_state is not h11.SEND_BODY
    ):
        return None
    headers = response.headers
    if headers.get("content-encoding", "identity").lower() != "identity":
        return None
    leading, closed = h11_state.trailing_data
    if closed:
        return None
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.lower() != "chunked":
            return None
        return _NetworkBody(network, leading, length=None)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            return None
        return _NetworkBody(network, leading, length=int(length))
    return _NetworkBody(network, leading, length=-1)
