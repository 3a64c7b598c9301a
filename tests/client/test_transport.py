"""``CoalescingTransport``: chunked bodies one piece per socket read (client/_transport.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import h11
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream.client import AgentStreamClient, CoalescingTransport
from agent_stream.client._transport import ChunkMerger

from .test_body import STREAM, chunked, examples, raw_server, splits, tls  # noqa: F401

# --- the merger, checked against h11 (the parser httpx uses) -----------------------------

Exchange = tuple[bytes, bytes]  # (request method, the response's wire bytes)


def h11_reads(exchanges: list[Exchange], cuts: list[int], *, merge: bool) -> list[object]:
    """What a client's h11 makes of the responses, read in pieces cut at ``cuts``."""
    conn = h11.Connection(h11.CLIENT)
    merger = ChunkMerger()
    seen: list[object] = []
    for method, wire in exchanges:
        request = h11.Request(method=method, target="/", headers=[("host", "test")])
        head = conn.send(request)
        assert head is not None
        merger.sent(head)
        conn.send(h11.EndOfMessage())
        body = b""
        for piece in splits(wire, cuts):
            if merge and piece:
                piece = merger.received(piece)  # b"": nothing to hand on yet
            if piece:
                conn.receive_data(piece)
            while (event := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
                if isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    seen.append(("end", body))  # trailers: httpcore drops them anyway
                elif isinstance(event, h11.InformationalResponse | h11.Response):
                    seen.append((event.status_code, list(event.headers)))
        if conn.their_state is not h11.DONE:
            seen.append(("unfinished", body))
            break
        conn.start_next_cycle()
    return seen


def response(kind: str, parts: list[bytes], ext: bool) -> Exchange:
    payload = b"".join(parts)
    te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    if kind == "chunked":
        return b"GET", te + chunked(parts, ext=ext, trailers=b"X-T: 1\r\n" if ext else b"")
    if kind == "length":
        return b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(payload), payload)
    if kind == "interim":  # 103 Early Hints, then the response
        return b"GET", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + te + chunked(parts)
    if kind == "head":  # the headers a GET would get, no body
        return b"HEAD", te
    if kind == "bare-lf":
        return b"GET", b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n" + chunked(parts)
    assert kind == "no-content"
    return b"GET", b"HTTP/1.1 204 No Content\r\n\r\n"


KINDS = st.sampled_from(["chunked", "length", "interim", "head", "bare-lf", "no-content"])


@examples
@given(
    st.lists(
        st.tuples(KINDS, st.lists(st.binary(max_size=40), max_size=6)), min_size=1, max_size=3
    ),
    st.lists(st.integers(min_value=0), max_size=10),
    st.booleans(),
)
def test_h11_sees_the_same_responses_and_bodies_for_any_reads(
    kinds: list[tuple[str, list[bytes]]], cuts: list[int], ext: bool
) -> None:
    # keep-alive: several exchanges on one connection, each response read in any pieces
    exchanges = [response(kind, parts, ext) for kind, parts in kinds]
    assert h11_reads(exchanges, cuts, merge=True) == h11_reads(exchanges, cuts, merge=False)


def test_a_read_of_many_chunks_becomes_one_chunk() -> None:
    merger = ChunkMerger()
    merger.sent(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert merger.received(head + chunked([b"a", b"bc"])[:-5]) == head + b"3\r\nabc\r\n"
    assert merger.received(b"0\r\n\r\n") == b"0\r\n\r\n"
    assert merger.mode == "idle"  # ready for the next request on the connection


@pytest.mark.parametrize(
    ("first_write", "head"),
    [
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b""),  # not HTTP/1.1
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),  # a body until close
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"),
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\nx: a\r\n b\r\ncontent-length: 1\r\n\r\n"),
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"),
        (b"CONNECT h:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),
    ],
)
def test_anything_not_plain_passes_unchanged_for_good(first_write: bytes, head: bytes) -> None:
    merger = ChunkMerger()
    merger.sent(first_write)
    body = chunked([b"a", b"b"])
    assert merger.received(head + body) == head + body
    assert merger.mode == "off"
    merger.sent(b"GET / HTTP/1.1\r\n\r\n")
    assert merger.received(body) == body


def test_bytes_after_a_body_pass_unchanged_and_end_the_rewriting() -> None:
    merger = ChunkMerger()
    merger.sent(b"GET / HTTP/1.1\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert merger.received(head + chunked([b"ab"]) + b"junk") == head + chunked([b"ab"]) + b"junk"
    assert merger.mode == "off"


def test_malformed_chunked_framing_raises_httpcore_remote_protocol_error() -> None:
    import httpcore

    merger = ChunkMerger()
    merger.sent(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(httpcore.RemoteProtocolError, match="malformed chunked"):
        merger.received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")


# --- over loopback ----------------------------------------------------------------------

pytestmark = pytest.mark.anyio


async def pieces(http: httpx.AsyncClient, url: str) -> tuple[list[bytes], object]:
    with anyio.fail_after(10):
        async with http.stream("GET", url) as response:
            got = [piece async for piece in response.aiter_raw()]
            return got, response.extensions.get("network_stream")


@pytest.mark.parametrize("path", ["/one-write", "/parts", "/length", "/close"])
async def test_bodies_equal_the_payload_and_the_connection_is_reused(path: str) -> None:
    async with raw_server() as base, httpx.AsyncClient(transport=CoalescingTransport()) as http:
        got, connection = await pieces(http, base + path)
        assert b"".join(got) == STREAM
        got, again = await pieces(http, base + "/one-write")
        assert b"".join(got) == STREAM
    if path != "/close":  # keep-alive: the second request went over the same connection
        assert again is connection


async def test_chunks_that_arrive_together_come_out_as_one_piece() -> None:
    # /one-write: the head and the whole body in one write of 97-byte chunks
    chunks = -(-len(STREAM) // 97)
    async with raw_server() as base:
        async with httpx.AsyncClient() as http:
            plain, _ = await pieces(http, base + "/one-write")
        async with httpx.AsyncClient(transport=CoalescingTransport()) as http:
            merged, _ = await pieces(http, base + "/one-write")
    assert len(plain) == chunks
    assert len(merged) <= 2  # one socket read (two if the kernel split the write)
    assert b"".join(merged) == b"".join(plain) == STREAM


@pytest.mark.parametrize("path", ["/cut", "/bad"])
async def test_a_broken_body_raises_like_httpx(path: str) -> None:
    async with raw_server() as base, httpx.AsyncClient(transport=CoalescingTransport()) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await pieces(http, base + path)
        got, _ = await pieces(http, base + "/parts")
    assert b"".join(got) == STREAM


async def test_content_coding_read_timeout_and_refused_connection_surface_as_httpx_errors() -> None:
    transport = CoalescingTransport()
    async with raw_server() as base, httpx.AsyncClient(transport=transport) as http:
        with anyio.fail_after(10):
            response = await http.get(base + "/gzip")
        assert response.content == STREAM
        with pytest.raises(httpx.ReadTimeout):
            with anyio.fail_after(10):
                await http.get(base + "/stall", timeout=httpx.Timeout(5.0, read=0.2))
        port = int(base.rsplit(":", 1)[1])
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(transport=CoalescingTransport()) as http:
            with anyio.fail_after(10):
                await http.get(f"http://127.0.0.1:{port}/")


async def test_over_tls_bodies_are_merged(tls: tuple[Path, Path]) -> None:  # noqa: F811
    cert, key = tls
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    transport = CoalescingTransport(verify=ssl.create_default_context(cafile=str(cert)))
    async with raw_server(server_context) as base, httpx.AsyncClient(transport=transport) as http:
        got, connection = await pieces(http, base + "/one-write")
        assert len(got) <= 4 and b"".join(got) == STREAM
        got, again = await pieces(http, base + "/parts")
    assert b"".join(got) == STREAM and again is connection


async def test_the_default_client_reads_a_stream_and_honours_proxy_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with raw_server() as base:
        async with AgentStreamClient(max_retries=0) as client:
            with anyio.fail_after(10):
                events = [event async for event in client.stream(base + "/one-write", method="GET")]
        assert [e.seq for e in events] == list(range(41)) and client.failure is None
        # a proxy in the environment: httpx's own transports route through it (here: a port
        # nothing listens on, so the request fails instead of reaching the server)
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            proxy_port = listener.extra(anyio.abc.SocketAttribute.local_port)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy_port}")
        async with AgentStreamClient(max_retries=0) as client:
            with anyio.fail_after(10):
                events = [event async for event in client.stream(base + "/one-write", method="GET")]
    assert events[-1].data["synthetic"] is True
    assert isinstance(client.failure, httpx.ConnectError)
