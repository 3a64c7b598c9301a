"""Reading response bodies straight from httpx's connection (client/_body.py)."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_stream.client import AgentStreamClient
from agent_stream.client._body import Body, ChunkedDecoder, _IteratorBody, _NetworkBody, open_body

from .processes import ServerProcess

examples = settings(max_examples=200, deadline=None)


def chunked(parts: list[bytes], *, ext: bool = False, trailers: bytes = b"") -> bytes:
    out = b"".join(
        b"%X%s\r\n%s\r\n" % (len(p), b";name=value" if ext else b"", p) for p in parts if p
    )
    return out + b"0\r\n" + trailers + b"\r\n"


def decode(pieces: list[bytes]) -> tuple[bytes, bool]:
    decoder = ChunkedDecoder()
    payload = b"".join(decoder.feed(p) for p in pieces)
    return payload, decoder.is_done


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


PARTS = [b"id: s:1\nevent: token\ndata: {}\n\n", b"x" * 300, b"\r\n0\r\n", b"\xe6\x97\xa5"]


@pytest.mark.parametrize("ext", [False, True])
@pytest.mark.parametrize("trailers", [b"", b"X-Checksum: 1\r\nX-Other: 2\r\n"])
def test_chunked_body_whole_byte_by_byte_and_with_bytes_after(ext: bool, trailers: bytes) -> None:
    wire = chunked(PARTS, ext=ext, trailers=trailers)
    assert decode([wire]) == (b"".join(PARTS), True)
    assert decode([wire[i : i + 1] for i in range(len(wire))]) == (b"".join(PARTS), True)
    # bytes after the body are another response's: never payload
    assert decode([wire + b"HTTP/1.1 200 OK\r\n"]) == (b"".join(PARTS), True)


@examples
@given(
    st.lists(st.binary(max_size=70), max_size=8),
    st.lists(st.integers(min_value=0), max_size=12),
    st.booleans(),
)
def test_any_split_of_a_chunked_body_decodes_to_its_payload(
    parts: list[bytes], cuts: list[int], ext: bool
) -> None:
    wire = chunked(parts, ext=ext, trailers=b"T: 1\r\n")
    assert decode(splits(wire, cuts)) == (b"".join(parts), True)


def test_unfinished_chunked_body_is_not_done() -> None:
    wire = chunked([b"hello"])
    assert decode([wire[:-2]]) == (b"hello", False)
    assert decode([wire[:7]]) == (b"hell", False)


@pytest.mark.parametrize(
    "wire",
    [
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"zz\r\n",  # not a hex size
        b"-5\r\nhello\r\n",
        b"5 5\r\nhello\r\n",
        b"5\nhello\r\n",  # bare LF
        b"1" * 20_000,  # a size line with no end
        b"0\r\n" + b"X-Long: " + b"a" * 20_000,  # a trailer section with no end
    ],
)
def test_malformed_chunked_framing_raises_remote_protocol_error(wire: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="malformed chunked response body"):
        decode([wire])


# --- against servers on loopback --------------------------------------------------------

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
SSE = b"".join(
    b'id: Sid0123456789abcdefghij:%d\nevent: token\ndata: {"text":"t%d "}\n\n' % (i, i)
    for i in range(1, 40)
)
START = (
    b'id: Sid0123456789abcdefghij:0\nevent: start\ndata: {"stream_id":"Sid0123456789abcdefghij",'
    b'"protocol_version":1,"heartbeat_ms":15000,"resume_url":"/r","stop_url":"/s","resumed":false}\n\n'
)
DONE = b'id: Sid0123456789abcdefghij:40\nevent: done\ndata: {"message_id":"m"}\n\n'
STREAM = START + SSE + DONE
# Each response: the writes the server makes (each drained before the next), then whether it
# closes the connection.
Writes = tuple[list[bytes], bool]


def _responses() -> dict[bytes, Writes]:
    body = chunked([STREAM[i : i + 97] for i in range(0, len(STREAM), 97)], ext=True)
    te = HEAD + b"transfer-encoding: chunked\r\n\r\n"
    return {
        # headers and the whole body in one write: the body waits in h11's buffer
        b"/one-write": ([te + body], False),
        # cut inside size lines, data and CRLFs
        b"/parts": ([te, *splits(body, list(range(5, len(body), 61)))], False),
        b"/length": ([HEAD + b"content-length: %d\r\n\r\n" % len(STREAM), STREAM], False),
        b"/close": ([HEAD + b"connection: close\r\n\r\n", STREAM[:500], STREAM[500:]], True),
        b"/cut": ([te, body[:700]], True),
        b"/stall": ([te, body[:700]], False),  # then nothing, the connection open
        b"/bad": ([te, b"10\r\n" + b"x" * 16 + b"!!"], True),
        b"/gzip": (
            [
                HEAD
                + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n"
                % len(gzip.compress(STREAM)),
                gzip.compress(STREAM),
            ],
            False,
        ),
    }


@asynccontextmanager
async def raw_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """An HTTP/1.1 server writing canned bytes per path; counts connections in ``.hits``."""
    responses = _responses()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writes, close = responses[path]
                for data in writes:
                    writer.write(data)
                    await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.close()


async def read_all(body: Body) -> bytes:
    out = []
    with anyio.fail_after(10):
        while data := await body.read():
            out.append(data)
    return b"".join(out)


async def fetch(
    http: httpx.AsyncClient, url: str, check: Callable[[Body], None] | None = None
) -> bytes:
    async with http.stream("GET", url) as response:
        body = open_body(response, direct=True)
        if check is not None:
            check(body)
        return await read_all(body)


def is_network(body: Body) -> None:
    assert isinstance(body, _NetworkBody)


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/one-write", "/parts", "/length", "/close"])
async def test_bodies_read_from_the_connection_equal_the_payload(path: str) -> None:
    async with raw_server() as base, httpx.AsyncClient() as http:
        assert await fetch(http, base + path, is_network) == STREAM
        # the connection was not handed back mid-body: the next request works
        assert await fetch(http, base + "/one-write", is_network) == STREAM


@pytest.mark.parametrize("path", ["/cut", "/bad"])
async def test_a_broken_body_raises_like_httpx(path: str) -> None:
    async with raw_server() as base, httpx.AsyncClient() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(http, base + path, is_network)
        with pytest.raises(httpx.RemoteProtocolError):  # httpx's own path agrees
            async with http.stream("GET", base + path) as response:
                await response.aread()
        assert await fetch(http, base + "/parts", is_network) == STREAM


async def test_a_content_coding_falls_back_to_httpx_decoding() -> None:
    checked: list[Body] = []
    async with raw_server() as base, httpx.AsyncClient() as http:
        assert await fetch(http, base + "/gzip", checked.append) == STREAM
    assert isinstance(checked[0], _IteratorBody)


async def test_other_transports_fall_back_to_aiter_raw() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=STREAM, headers={"content-type": "x"})
    )
    async with httpx.AsyncClient(transport=transport) as http:
        checked: list[Body] = []
        assert await fetch(http, "http://test/", checked.append) == STREAM
    assert isinstance(checked[0], _IteratorBody)


async def test_a_whole_stream_through_uvicorn_is_read_from_the_connection(
    test_app: ServerProcess,
) -> None:
    async with httpx.AsyncClient() as http:
        request = http.build_request("POST", f"{test_app.url}/api/chat", json={"tokens": 5})
        response = await http.send(request, stream=True)
        try:
            body = open_body(response, direct=True)
            assert isinstance(body, _NetworkBody)
            data = await read_all(body)
        finally:
            await response.aclose()
    assert data.startswith(b"id: ") and b"event: done\n" in data


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    yield cert, key


async def test_over_tls_the_client_reads_from_the_connection(tls: tuple[Path, Path]) -> None:
    cert, key = tls
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with raw_server(server_context) as base, httpx.AsyncClient(verify=client_context) as http:
        assert await fetch(http, base + "/parts", is_network) == STREAM
        client = AgentStreamClient(http_client=http, direct_body=True)
        with anyio.fail_after(10):
            events = [event async for event in client.stream(base + "/one-write", method="GET")]
    assert [e.seq for e in events] == list(range(41))
    assert client.state.text == "".join(f"t{i} " for i in range(1, 40))
    assert client.failure is None and client.state.is_done
