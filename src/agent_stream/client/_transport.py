"""``CoalescingTransport``: an httpx transport that hands out a chunked body one piece per read.

An agent server writes one HTTP chunk per event, and httpx (over httpcore and h11) hands a
chunked body out one chunk at a time: every event pays h11's parser and httpcore's and
httpx's stream layers, ~10 µs of client CPU (``bench/RESULTS.md``, Client), several times
what parsing the event costs. Chunk boundaries carry no meaning (RFC 9112 §7.1; any proxy may
re-chunk a body), so this transport merges them: the connection's network stream (httpcore's
public network-backend interface) decodes the chunked framing of each socket read and gives
h11 the payload of the whole read as one chunk. h11 still parses every response head and sees
every body byte and the body's end, so the connection goes back to the pool (keep-alive), and
httpx's API is unchanged: ``response.aiter_raw()`` yields one piece per read. Trailer fields
after a chunked body are dropped (httpcore never hands them out either).

Only what is certain is rewritten: a request line this stream wrote (HTTP/1.1), then a response
head whose body is plainly chunked; bodies framed by ``Content-Length`` pass untouched (and
are counted, to find the next response), and anything else (an upgrade, a tunnel, a body
until close, a head that is not plain, bytes where none are due) turns the rewriting off for
the rest of the connection, leaving h11 to judge the bytes as they came.
"""

from __future__ import annotations

import re
import ssl
import typing
from collections.abc import AsyncIterator, Iterable
from typing import Final, Literal

import httpcore
import httpx

from ._body import ChunkedDecoder

__all__ = ["ChunkMerger", "CoalescingTransport"]

_REQUEST_LINE: Final = re.compile(rb"([A-Z]+) [^ \r\n]+ HTTP/1\.1\r\n")
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.1 ([0-9]{3})(?:[ \r]|$)")
_HEAD_END: Final = re.compile(rb"\n\r?\n")  # h11 accepts a bare LF as a line end
_MAX_HEAD: Final = 1 << 16  # h11 refuses heads over 16 KiB; past this, leave it to h11

Mode = Literal["idle", "head", "chunked", "length", "off"]


class ChunkMerger:
    """Sans-I/O: one HTTP/1.1 connection's incoming bytes, as the client's parser should see them.

    :meth:`sent` takes the bytes the client writes, :meth:`received` the bytes read from the
    server and returns what to hand the parser (``b""``: nothing yet, read again). Within a
    chunked body the payload of each read becomes one chunk; all else passes unchanged.
    """

    __slots__ = ("_decoder", "_head", "_left", "_method", "mode")

    def __init__(self) -> None:
        self.mode: Mode = "idle"
        self._method = b""
        self._head = b""  # the response head so far
        self._left = 0  # Content-Length bytes still due
        self._decoder = ChunkedDecoder()

    def sent(self, data: bytes) -> None:
        """The client wrote ``data``: a request's head starts a new exchange."""
        if self.mode != "idle":
            return  # a request body, or rewriting is off
        request = _REQUEST_LINE.match(data)
        if request is None:
            self.mode = "off"  # not HTTP/1.1 (an HTTP/2 preface, a proxy handshake)
            return
        self._method = request.group(1)
        self._head = b""
        self.mode = "head"

    def received(self, data: bytes) -> bytes:
        """What the parser should get for ``data`` read from the server (never given ``b""``)."""
        mode = self.mode
        if mode == "chunked":
            return self._chunked(data)
        if mode == "head":
            return self._response_head(data)
        if mode == "length":
            left = self._left - len(data)
            if left > 0:
                self._left = left
            else:  # the body ended; anything past it was not asked for
                self.mode = "idle" if left == 0 else "off"
            return data
        self.mode = "off"  # bytes when no response is due: h11 judges them
        return data

    def _response_head(self, data: bytes) -> bytes:
        start = max(len(self._head) - 2, 0)
        head = self._head = self._head + data
        end = _HEAD_END.search(head, start)
        if end is None:
            if len(head) > _MAX_HEAD:
                self.mode = "off"
            return data
        cut = len(data) - (len(head) - end.end())  # where the head ends in data
        self._head = b""
        mode = self.mode = self._body_mode(head[: end.end()])
        rest = data[cut:]
        if not rest:
            return data
        if mode in ("chunked", "length", "head"):  # head: the final one after a 1xx
            return data[:cut] + self.received(rest)
        self.mode = "off"  # bytes after a response without a body
        return data

    def _body_mode(self, head: bytes) -> Mode:
        status = _STATUS_LINE.match(head)
        if status is None:
            return "off"  # HTTP/1.0 or garbage
        code = int(status.group(1))
        if code == 101 or (self._method == b"CONNECT" and 200 <= code < 300):
            return "off"  # the connection becomes a tunnel
        if code < 200:
            return "head"
        codings: list[bytes] = []
        lengths: list[bytes] = []
        for line in head.split(b"\n")[1:]:
            line = line.rstrip(b"\r")
            if not line:
                continue
            if line[:1] in (b" ", b"\t"):
                return "off"  # an obsolete line folding: not plain
            name, colon, value = line.partition(b":")
            if not colon:
                return "off"
            name = name.lower()
            if name == b"transfer-encoding":
                codings.append(value.strip(b" \t").lower())
            elif name == b"content-length":
                lengths.append(value.strip(b" \t"))
        if self._method == b"HEAD" or code in (204, 304):
            return "idle"  # no body
        if codings:
            if codings != [b"chunked"] or lengths:
                return "off"
            self._decoder = ChunkedDecoder()
            return "chunked"
        if len(lengths) == 1 and lengths[0].isdigit() and len(lengths[0]) < 19:
            self._left = int(lengths[0])
            return "length" if self._left else "idle"
        return "off"  # a body until the connection closes, or odd framing

    def _chunked(self, data: bytes) -> bytes:
        decoder = self._decoder
        try:
            payload = decoder.feed(data)
        except httpx.RemoteProtocolError as exc:
            raise httpcore.RemoteProtocolError(str(exc)) from exc
        out = b"%x\r\n%b\r\n" % (len(payload), payload) if payload else b""
        if decoder.is_done:
            out += b"0\r\n\r\n"
            self.mode = "idle"
            if decoder.rest:
                self.mode = "off"
                out += decoder.rest
        return out


class _MergingStream(httpcore.AsyncNetworkStream):
    """A connection's network stream whose reads go through a :class:`ChunkMerger`."""

    __slots__ = ("_merger", "_stream")

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._merger = ChunkMerger()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        merger = self._merger
        if merger.mode == "off":
            return await self._stream.read(max_bytes, timeout)
        while True:
            data = await self._stream.read(max_bytes, timeout)
            if not data:
                return data  # the server closed: h11 judges whether that was early
            out = merger.received(data)
            if out:
                return out

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._merger.sent(buffer)
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _MergingStream(stream)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _MergingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _MergingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _MergingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# httpcore's errors as httpx's (the most specific class first)
_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx(exc: Exception) -> Exception:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(str(exc))
    return exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


_DEFAULT_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class CoalescingTransport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 httpx transport whose chunked bodies come one piece per socket read.

    A drop-in for ``httpx.AsyncHTTPTransport`` (the same options, without proxies and HTTP/2)
    for clients of agent streams, whose servers write an HTTP chunk per event: httpx then
    hands out the bytes of each socket read at once instead of one chunk at a time, several
    times less client CPU per event (``bench/RESULTS.md``, Client). The body bytes are the
    same; keep-alive, TLS and timeouts are httpcore's, as with httpx's own transport.
    ``AgentStreamClient()`` uses it when you give it no ``http_client`` and the environment
    names no proxy; give it to your own client with
    ``httpx.AsyncClient(transport=CoalescingTransport())``.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
        trust_env: bool = True,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            uds=uds,
            local_address=local_address,
            retries=retries,
            socket_options=socket_options,
            network_backend=_MergingBackend(httpcore.AnyIOBackend()),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=typing.cast(typing.AsyncIterable[bytes], request.stream),
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(typing.cast(typing.AsyncIterable[bytes], response.stream)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
