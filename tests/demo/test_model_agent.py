"""The demo's real-model agent: its tools, and the demo server driving an SDK over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from agent_stream.demo.model_agent import calculator, clock, model_agent_from_env
from agent_stream.errors import UsageError
from tests.demo.fake_provider import SDK_START_S, serve_fake_provider, sse_events
from tests.uvicorn_helpers import UvicornProcess

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_calculator_evaluates_arithmetic_only():
    assert await calculator("27 * 453") == "12231"
    assert await calculator("2 * (3 + 4) - 1 / 4") == "13.75"
    assert await calculator("2 ^ 10") == "1024"
    for bad in ("__import__('os')", "x + 1", "[1, 2]", "9 ** 99999"):
        with pytest.raises(ValueError):
            await calculator(bad)


async def test_clock_is_utc_iso():
    assert (await clock()).endswith("+00:00")


def test_no_key_means_the_scripted_agent():
    assert model_agent_from_env({}) is None
    agent = model_agent_from_env({"OPENAI_API_KEY": "sk-x", "AGENT_STREAM_MODEL": "qwen3"})
    assert agent is not None and (agent.provider, agent.model) == ("openai", "qwen3")
    agent = model_agent_from_env({"ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"})
    assert agent is not None and agent.provider == "anthropic"


def test_a_key_without_its_sdk_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "anthropic", None)
    with pytest.raises(UsageError, match=r"agent-event-stream\[anthropic\]"):
        model_agent_from_env({"ANTHROPIC_API_KEY": "k"})


@pytest.fixture(scope="module")
def provider() -> Iterator[UvicornProcess]:
    with serve_fake_provider() as server:
        yield server


@pytest.mark.parametrize(
    ("env", "provider_name", "model"),
    [
        ({"ANTHROPIC_API_KEY": "sk-ant-test"}, "anthropic", "claude-haiku-4-5"),
        ({"OPENAI_API_KEY": "sk-test"}, "openai", "gpt-4o-mini"),
    ],
)
def test_the_demo_runs_the_model_with_its_tools(provider, env, provider_name, model):
    urls = {"ANTHROPIC_BASE_URL": provider.url, "OPENAI_BASE_URL": f"{provider.url}/v1"}
    with UvicornProcess(
        "agent_stream.demo.app:create_app_from_env",
        factory=True,
        env={**env, **urls},
        ready_timeout_s=SDK_START_S,
    ) as demo:
        info = httpx.get(f"{demo.url}/api/agent", timeout=5).json()
        assert info == {"agent": "model", "provider": provider_name, "model": model}
        assert httpx.get(f"{demo.url}/healthz", timeout=5).json()["agent"] == "model"
        response = httpx.post(
            f"{demo.url}/api/chat", json={"message": "What is 27 * 453?"}, timeout=30
        )
        scripted = httpx.post(
            f"{demo.url}/api/chat", json={"agent": "scripted", "tokens": 3}, timeout=30
        )
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("turn") == 2
    uses = {data["tool_name"]: data for kind, data in events if kind == "tool_use"}
    results = {data["tool_name"]: data for kind, data in events if kind == "tool_result"}
    assert uses["calculator"]["input"] == {"expression": "27 * 453"}
    # the demo's own tools ran: the calculator's answer went back to the model
    assert results["calculator"]["output"] == "12231" and results["calculator"]["status"] == "done"
    assert str(results["clock"]["output"]).endswith("+00:00")
    text = "".join(str(data["text"]) for kind, data in events if kind == "token")
    assert text == "27 \u00d7 453 = 12231, and it is past noon UTC."
    done = events[-1][1]
    assert done["num_turns"] == 2 and done["tool_count"] == 2
    sent = httpx.get(f"{provider.url}/requests", timeout=5).json()
    assert sent[-2]["model"] == model and sent[-1]["model"] == model
    assert "12231" in json.dumps(sent[-1]["messages"])
    scripted_events = sse_events(scripted.text)
    scripted_text = "".join(str(d["text"]) for kind, d in scripted_events if kind == "token")
    assert scripted_text == "Here is a " and scripted_events[-1][0] == "done"


def test_approve_with_a_real_model_asks_before_each_tool_call(provider):
    """The page's question card answers a real model's tool approvals through the same route."""
    urls = {"OPENAI_BASE_URL": f"{provider.url}/v1"}
    headers = {"Authorization": "Bearer approver"}
    with (
        UvicornProcess(
            "agent_stream.demo.app:create_app_from_env",
            factory=True,
            env={"OPENAI_API_KEY": "sk-test", **urls},
            ready_timeout_s=SDK_START_S,
        ) as demo,
        httpx.Client(base_url=demo.url, timeout=30) as client,
        client.stream(
            "POST", "/api/chat", json={"message": "27 * 453?", "approve": True}, headers=headers
        ) as response,
    ):
        body = ""
        asked: list[dict[str, object]] = []
        for chunk in response.iter_text():
            body += chunk
            events = sse_events(body.rsplit("\n\n", 1)[0])
            questions = [data for kind, data in events if kind == "input_required"]
            for question in questions[len(asked) :]:
                asked.append(question)
                verdict = "deny" if question["tool_name"] == "calculator" else "approve"
                reply = client.post(
                    str(question["respond_url"]),
                    json={"request_id": question["request_id"], "answer": verdict},
                    headers=headers,
                )
                assert reply.status_code == 200, reply.text
    events = sse_events(body)
    assert sorted(str(q["tool_name"]) for q in asked) == ["calculator", "clock"]
    assert all(q["choices"] == ["approve", "deny"] for q in asked)
    results = {data["tool_name"]: data for kind, data in events if kind == "tool_result"}
    assert results["calculator"]["output"] == "the user refused this call"
    assert str(results["clock"]["output"]).endswith("+00:00")
    assert events[-1][0] == "done"
