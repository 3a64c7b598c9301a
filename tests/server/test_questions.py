"""ask() / approve() and the respond route over real uvicorn (MemoryStore, one process)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from tests.server.conftest import Frame, frames, parse_block
from tests.uvicorn_helpers import UvicornProcess

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hitl_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.questions_app:create_app",
        factory=True,
        env={"AGENT_STREAM_GRACE_S": "0.3"},
        args=["--no-access-log"],
    ) as process:
        yield process


def owner() -> dict[str, str]:
    return {"Authorization": f"Bearer {uuid.uuid4().hex}"}


@dataclass
class Asked:
    """A stream read up to its input_required; ``rest()`` reads on to done."""

    response: httpx.Response
    reader: AsyncIterator[Frame]
    seen: list[Frame] = field(default_factory=list)

    @property
    def question(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            next(f for f in self.seen if f.event == "input_required").data or ""
        )
        return data

    @property
    def stream_id(self) -> str:
        start: dict[str, Any] = json.loads(self.seen[0].data or "")
        return str(start["stream_id"])

    async def rest(self) -> list[Frame]:
        async for frame in self.reader:
            self.seen.append(frame)
            if frame.event == "done":
                break
        return [f for f in self.seen if f.event not in (None, "start")]


def text_of(events: list[Frame]) -> str:
    return "".join(json.loads(f.data or "")["text"] for f in events if f.event == "token")


@asynccontextmanager
async def asking(
    client: httpx.AsyncClient, headers: dict[str, str], **query: str
) -> AsyncIterator[Asked]:
    async with client.stream("POST", "/ask", params=query, headers=headers) as response:
        assert response.status_code == 200
        asked = Asked(response, aiter(frames(response)))
        async for frame in asked.reader:
            asked.seen.append(frame)
            if frame.event == "input_required":
                break
        yield asked


async def post_answer(
    client: httpx.AsyncClient,
    question: dict[str, Any],
    answer: object,
    headers: dict[str, str],
    **extra: object,
) -> httpx.Response:
    body = {"request_id": question["request_id"], "answer": answer, **extra}
    return await client.post(question["respond_url"], json=body, headers=headers)


async def test_ask_answer_resumes_the_agent_and_the_answer_is_an_event(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who) as asked:
                question = asked.question
                assert question["prompt"] == "Which city?"
                assert question["choices"] == ["Lisbon", "Porto", "Faro"]
                assert question["respond_url"] == f"/api/streams/{asked.stream_id}/respond"
                expires = datetime.fromisoformat(question["expires_at"])
                left_s = (expires - datetime.now(UTC)).total_seconds()
                assert 20 < left_s <= 30
                answered = await post_answer(client, question, "Porto", who)
                assert answered.status_code == 200, answered.text
                assert answered.json() == {
                    "request_id": question["request_id"],
                    "status": "answered",
                    "answer": "Porto",
                }
                events = await asked.rest()
    types = [f.event for f in events]
    assert types[-3:] == ["input_response", "token", "done"]
    closing = json.loads(events[-3].data or "")
    assert closing == {
        "request_id": question["request_id"],
        "status": "answered",
        "answer": "Porto",
    }
    assert text_of(events).endswith('got "Porto"')
    assert json.loads(events[-1].data or "").get("reason", "completed") == "completed"


async def test_second_answer_409_same_idempotency_key_200_again(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who) as asked:
                question = asked.question
                keyed = {**who, "Idempotency-Key": "k-1"}
                first = await post_answer(client, question, "Faro", keyed)
                again = await post_answer(client, question, "Faro", keyed)
                other = await post_answer(client, question, "Lisbon", who)
                events = await asked.rest()
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "already-answered"
    assert [f.event for f in events].count("input_response") == 1
    assert text_of(events).endswith('got "Faro"')


async def test_foreign_owner_gets_the_same_404_as_an_unknown_question(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who) as asked:
                question = asked.question
                foreign = await post_answer(client, question, "Porto", owner())
                unknown_id = await post_answer(
                    client, {**question, "request_id": "req_nope"}, "Porto", who
                )
                unknown_stream = await client.post(
                    "/api/streams/AAAAAAAAAAAAAAAAAAAAAA/respond",
                    json={"request_id": question["request_id"], "answer": "Porto"},
                    headers=who,
                )
                # the question is still open for its owner
                mine = await post_answer(client, question, "Lisbon", who)
                await asked.rest()
    assert foreign.status_code == unknown_id.status_code == unknown_stream.status_code == 404
    assert foreign.content == unknown_id.content == unknown_stream.content
    assert foreign.json()["error"]["code"] == "unknown-request"
    assert mine.status_code == 200


async def test_bad_answers_get_422_with_the_reason_and_the_question_stays_open(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who, kind="choices") as asked:
                not_a_choice = await post_answer(client, asked.question, "Braga", who)
                ok = await post_answer(client, asked.question, "Lisbon", who)
                await asked.rest()
            async with asking(client, who, kind="schema") as asked:
                assert asked.question["schema"]["required"] == ["nights"]
                too_many = await post_answer(client, asked.question, {"nights": 40}, who)
                wrong_type = await post_answer(client, asked.question, "three", who)
                no_answer = await client.post(
                    asked.question["respond_url"],
                    json={"request_id": asked.question["request_id"]},
                    headers=who,
                )
                not_json = await client.post(
                    asked.question["respond_url"], content=b"{nope", headers=who
                )
                fine = await post_answer(client, asked.question, {"nights": 3}, who)
                events = await asked.rest()
    assert not_a_choice.status_code == 422
    error = not_a_choice.json()["error"]
    assert (
        error["code"] == "invalid-answer" and "'Braga' is not one of the choices" in error["reason"]
    )
    assert ok.status_code == 200
    assert too_many.status_code == wrong_type.status_code == 422
    assert "40 is greater than the maximum of 14" in too_many.json()["error"]["reason"]
    assert "['nights']" in too_many.json()["error"]["reason"]
    assert "is not of type 'object'" in wrong_type.json()["error"]["reason"]
    assert no_answer.status_code == not_json.status_code == 400
    assert fine.status_code == 200
    assert text_of(events).endswith('got {"nights": 3}')


async def test_an_answer_larger_than_the_run_can_store_gets_422_and_the_run_goes_on(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    big = {"nights": 3, "note": "x" * 3000}  # fits the schema, not max_event_bytes=2048
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who, kind="schema", max_event_bytes="2048") as asked:
                too_big = await post_answer(client, asked.question, big, who)
                fine = await post_answer(client, asked.question, {"nights": 3}, who)
                events = await asked.rest()
    assert too_big.status_code == 422, too_big.text
    assert too_big.json()["error"]["code"] == "invalid-answer"
    assert "bytes of JSON; this run takes up to" in too_big.json()["error"]["reason"]
    assert fine.status_code == 200, fine.text
    assert [e.event for e in events].count("error") == 0
    assert text_of(events).endswith('got {"nights": 3}')
    assert json.loads(events[-1].data or "").get("reason", "completed") == "completed"


async def test_expired_question_410_and_the_agent_takes_its_timeout_path(
    hitl_server: UvicornProcess,
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who, timeout_s="0.3") as asked:
                events = await asked.rest()  # nobody answers: the agent goes on
                late = await post_answer(client, asked.question, "Porto", who)
    types = [f.event for f in events]
    assert types[-3:] == ["input_response", "token", "done"]
    assert json.loads(events[-3].data or "") == {
        "request_id": asked.question["request_id"],
        "status": "expired",
    }
    assert text_of(events).endswith("timeout")
    assert late.status_code == 410
    assert late.json()["error"]["code"] == "input-expired"


async def test_cancel_raises_input_cancelled_in_the_agent(hitl_server: UvicornProcess) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who) as asked:
                cancelled = await client.post(
                    asked.question["respond_url"],
                    json={"request_id": asked.question["request_id"], "cancel": True},
                    headers=who,
                )
                events = await asked.rest()
    assert cancelled.status_code == 200
    assert cancelled.json() == {"request_id": asked.question["request_id"], "status": "cancelled"}
    assert json.loads(events[-3].data or "")["status"] == "cancelled"
    assert text_of(events).endswith("cancelled")


@pytest.mark.parametrize(("answer", "text"), [("approve", "got true"), ("deny", "got false")])
async def test_approve_carries_the_tool_call(
    hitl_server: UvicornProcess, answer: str, text: str
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(10):
            async with asking(client, who, kind="approve") as asked:
                question = asked.question
                answered = await post_answer(client, question, answer, who)
                events = await asked.rest()
    assert question["tool_name"] == "book" and question["tool_input"] == {"hotel": "Bairro"}
    assert question["choices"] == ["approve", "deny"]
    assert answered.status_code == 200
    assert text_of(events).endswith(text)


async def test_an_open_question_outlives_the_disconnect_grace(
    hitl_server: UvicornProcess,
) -> None:
    """Close the only connection while asked, wait past the grace, resume, answer: one run."""
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(15):
            started = (await client.get("/healthz")).json()["runs_started"]
            async with asking(client, who) as asked:
                question, stream_id = asked.question, asked.stream_id
                last_id = asked.seen[-1].id or ""
            # the grace is 0.3 s: wait on the server's own clock by asking it to time out a
            # second question of ours that lasts longer than the grace
            async with asking(client, owner(), timeout_s="1") as timer:
                await timer.rest()
            async with client.stream(
                "GET", f"/api/streams/{stream_id}", headers={**who, "Last-Event-ID": last_id}
            ) as resumed:
                assert resumed.status_code == 200
                reader = aiter(frames(resumed))
                answered = await post_answer(client, question, "Faro", who)
                rest = [f async for f in reader if f.event not in (None, "start")]
            runs = (await client.get("/healthz")).json()["runs_started"]
    assert answered.status_code == 200
    assert [f.event for f in rest][-3:] == ["input_response", "token", "done"]
    assert text_of(rest).endswith('got "Faro"')
    assert runs == started + 2  # this run and the timer's, no other


async def test_ask_outside_a_run_is_a_usage_error() -> None:
    from agent_stream.errors import UsageError
    from agent_stream.server import ask

    with pytest.raises(UsageError) as caught:
        await ask("Which city?")
    assert caught.value.code == "no-run"


@pytest.fixture(scope="module")
def approval_server() -> Iterator[UvicornProcess]:
    with UvicornProcess(
        "tests.server.approval_app:create_app", factory=True, args=["--no-access-log"]
    ) as process:
        yield process


@pytest.mark.parametrize("verdict", ["approve", "deny"])
async def test_tool_loop_needs_approval_asks_before_the_call(
    approval_server: UvicornProcess, verdict: str
) -> None:
    who = owner()
    async with httpx.AsyncClient(base_url=approval_server.url) as client:
        with anyio.fail_after(15):
            async with asking(client, who, kind="tool_loop") as asked:
                question = asked.question
                answered = await post_answer(client, question, verdict, who)
                events = await asked.rest()
    assert answered.status_code == 200
    assert (question["tool_name"], question["tool_use_id"]) == ("divide", "call_divide")
    assert question["tool_input"] == {"a": 1, "b": 0}
    before = [f.event for f in asked.seen]
    assert before.count("tool_use") == 3  # the model's calls, then the question
    results = {
        data["tool_use_id"]: data
        for data in (json.loads(f.data or "") for f in events if f.event == "tool_result")
    }
    sent_back = json.loads(json.loads(events[-2].data or "")["text"])
    divided = next(m for m in sent_back if m.get("tool_call_id") == "call_divide")
    if verdict == "deny":
        assert results["call_divide"]["output"] == "the user refused this call"
        assert divided["content"] == "the user refused this call"
    else:
        assert results["call_divide"]["output"] == "ZeroDivisionError: division by zero"
    assert results["call_clock"]["output"] == "12:00"


async def test_cancel_policy_waits_for_the_open_question(hitl_server: UvicornProcess) -> None:
    """With disconnect=cancel too, a run that asks outlives its only connection until answered."""
    who = owner()
    async with httpx.AsyncClient(base_url=hitl_server.url) as client:
        with anyio.fail_after(15):
            async with asking(client, who, disconnect="cancel") as asked:
                question, stream_id = asked.question, asked.stream_id
            # the connection is gone; the server saw it go once its connection count drops
            while (await client.get("/healthz")).json()["connections"] > 0:  # noqa: ASYNC110
                await anyio.sleep(0.02)
            answered = await post_answer(client, question, "Lisbon", who)
            resumed = await client.get(f"/api/streams/{stream_id}", headers=who)
    assert answered.status_code == 200, answered.text
    events = [parse_block(block) for block in resumed.content.split(b"\n\n") if block]
    types = [f.event for f in events if f.event not in (None, "start")]
    # without the hold the policy would have cancelled the run at the disconnect (answer: 410)
    assert "input_response" in types and types[-1] == "done"
