"""AgentStreamClient.respond() and the sync client's against a real uvicorn asking app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import pytest

from agent_stream.client import AgentStreamClient, SyncAgentStreamClient
from agent_stream.errors import HTTPStatusError, UsageError
from agent_stream.events import JSONValue
from tests.uvicorn_helpers import UvicornProcess


@pytest.fixture(scope="module")
def asking_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.questions_app:create_app", factory=True, args=["--no-access-log"]
    ) as process:
        yield process


def owner() -> dict[str, str]:
    return {"Authorization": f"Bearer {uuid.uuid4().hex}"}


@pytest.mark.anyio
async def test_respond_answers_the_pending_question_with_the_streams_credentials(
    asking_server: UvicornProcess,
) -> None:
    replies: list[dict[str, JSONValue]] = []
    second: list[int] = []
    with anyio.fail_after(10):
        async with AgentStreamClient() as client:
            with pytest.raises(UsageError) as nothing:
                await client.respond("Porto")
            async for event in client.stream(f"{asking_server.url}/ask", headers=owner()):
                if event.type == "input_required":
                    assert client.state.input_required is not None
                    replies.append(await client.respond("Porto"))
                    with pytest.raises(HTTPStatusError) as again:
                        await client.respond("Faro")
                    second.append(again.value.status_code)
    assert nothing.value.code == "no-input-required"
    assert replies == [
        {
            "request_id": client.state.answers[0].request_id,
            "status": "answered",
            "answer": "Porto",
        }
    ]
    assert second == [409]
    assert client.state.input_required is None
    assert client.state.text.endswith('got "Porto"')


@pytest.mark.anyio
async def test_respond_422_carries_the_reason(asking_server: UvicornProcess) -> None:
    with anyio.fail_after(10):
        async with AgentStreamClient() as client:
            async for event in client.stream(
                f"{asking_server.url}/ask", params={"kind": "schema"}, headers=owner()
            ):
                if event.type == "input_required":
                    with pytest.raises(HTTPStatusError) as refused:
                        await client.respond({"nights": 0})
                    await client.respond({"nights": 2})
    assert refused.value.status_code == 422
    assert "0 is less than the minimum of 1" in refused.value.body
    assert client.state.text.endswith('got {"nights": 2}')


def test_sync_client_respond(asking_server: UvicornProcess) -> None:
    with SyncAgentStreamClient() as client:
        for event in client.stream(
            f"{asking_server.url}/ask", params={"kind": "approve"}, headers=owner()
        ):
            if event.type == "input_required":
                assert event.data["tool_name"] == "book"
                reply = client.respond("deny")
    assert reply["answer"] == "deny"
    assert client.state.text.endswith("got false")
