"""agent_stream.adapters.langgraph on a real compiled graph with LangChain's fake chat models."""

from __future__ import annotations

import anyio
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models.fake_chat_models import (
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import StreamMode, interrupt

from agent_stream import (
    AgentEvent,
    Done,
    InputRequired,
    Progress,
    Thinking,
    Token,
    ToolResult,
    ToolUse,
    Turn,
    UnknownEvent,
)
from agent_stream.adapters import langgraph as adapter

from .conftest import collect, cut_connection, folded, of_type, wire

pytestmark = pytest.mark.anyio

MODES: list[StreamMode] = ["messages", "updates", "custom"]


def ask_for(text: str) -> MessagesState:
    return {"messages": [HumanMessage(content=text)]}


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def explode() -> str:
    """Always fails."""
    raise RuntimeError("boom")


def tool_graph() -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
    calls = AIMessage(
        content="",
        id="msg-1",
        tool_calls=[
            {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_add"},
            {"name": "explode", "args": {}, "id": "call_explode"},
        ],
        usage_metadata={"input_tokens": 30, "output_tokens": 12, "total_tokens": 42},
        response_metadata={"model_name": "fake-model"},
    )
    answer = AIMessage(
        content="The sum is 5.",
        id="msg-2",
        additional_kwargs={"reasoning_content": "2 + 3 = 5"},
    )
    # the first turn is returned whole (tool calls), the second streams word by word
    tool_model = FakeMessagesListChatModel(responses=[calls])
    answer_model = GenericFakeChatModel(messages=iter([answer]))

    async def agent(state: MessagesState):
        writer = get_stream_writer()
        writer({"type": "progress", "step": "plan", "percentage": 50, "message": "planning"})
        writer({"type": "source_card", "url": "https://example.org"})
        writer("plain text write")
        model = tool_model if len(state["messages"]) == 1 else answer_model
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([add, explode], handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


async def test_a_tool_calling_graph_maps_to_turns_tools_tokens_and_done():
    graph = tool_graph()
    stream = graph.astream(ask_for("add 2 and 3"), stream_mode=MODES)
    events = await collect(adapter.events(stream))

    turns = of_type(events, Turn)
    assert [(t.turn_number, t.total_tools) for t in turns] == [(1, 0), (2, 2)]
    uses = of_type(events, ToolUse)
    assert [(u.tool_use_id, u.tool_name, u.input) for u in uses] == [
        ("call_add", "add", {"a": 2, "b": 3}),
        ("call_explode", "explode", {}),
    ]
    results = {r.tool_use_id: r for r in of_type(events, ToolResult)}
    assert len(of_type(events, ToolResult)) == 2
    assert results["call_add"].status == "done" and results["call_add"].output == "5"
    assert results["call_explode"].status == "error"
    assert "boom" in results["call_explode"].output_summary
    assert all(r.duration_ms >= 0 for r in results.values())
    assert "".join(t.text for t in of_type(events, Token)) == "The sum is 5."
    assert [t.text for t in of_type(events, Thinking)] == ["2 + 3 = 5"]
    steps = [p.step for p in of_type(events, Progress)]
    assert steps.count("plan") == 2  # the custom write, passed through as progress
    assert steps.count("agent") == 2 and steps.count("tools") == 1
    custom = of_type(events, UnknownEvent)
    assert UnknownEvent("source_card", {"url": "https://example.org"}) in custom
    assert UnknownEvent("custom", {"value": "plain text write"}) in custom

    done = events[-1]
    assert isinstance(done, Done) and len(of_type(events, Done)) == 1
    assert (done.num_turns, done.tool_count, done.model) == (2, 2, "fake-model")
    assert (done.input_tokens, done.output_tokens) == (30, 12)
    state = folded(events)
    assert state.text == "The sum is 5." and not state.active_tools
    assert [t.tool_use_id for t in state.tools] == ["call_add", "call_explode"]


async def test_subgraph_namespaces_and_v2_parts_map_the_same():
    graph = tool_graph()
    v1 = await collect(
        adapter.events(graph.astream(ask_for("x"), stream_mode=MODES, subgraphs=True))
    )
    v2 = await collect(
        adapter.events(tool_graph().astream(ask_for("x"), stream_mode=MODES, version="v2"))
    )

    def shape(events: list[AgentEvent]) -> list[str]:
        return [e.type for e in events]

    assert shape(v1) == shape(v2)
    assert shape(v1).count("tool_result") == 2


async def test_updates_alone_still_give_turns_text_and_tools():
    stream = tool_graph().astream(ask_for("add 2 and 3"), stream_mode=["updates"])
    events = await collect(adapter.events(stream))

    assert [e.turn_number for e in of_type(events, Turn)] == [1, 2]
    assert [u.tool_use_id for u in of_type(events, ToolUse)] == ["call_add", "call_explode"]
    assert len(of_type(events, ToolResult)) == 2
    assert folded(events).text == "The sum is 5."
    done = events[-1]
    assert isinstance(done, Done) and (done.num_turns, done.tool_count) == (2, 2)
    assert (done.input_tokens, done.output_tokens) == (30, 12)


def ask_city(state: MessagesState):
    city = interrupt({"question": "Which city?", "choices": ["Lisbon", "Porto", "Faro"]})
    return {"messages": [AIMessage(content=f"Planning {city}")]}


def asking_graph() -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask_city)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


async def test_an_interrupt_asks_for_input():
    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask_city)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    stream = graph.astream(ask_for("plan a trip"), config, stream_mode=MODES)
    events = await collect(adapter.events(stream))

    asked = of_type(events, InputRequired)
    assert len(asked) == 1
    assert asked[0].prompt == "Which city?"
    assert asked[0].choices == ["Lisbon", "Porto", "Faro"]
    assert asked[0].request_id
    assert isinstance(events[-1], Done)


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_an_interrupt_in_a_subgraph_asks_once(version):
    # with subgraphs=True the subgraph's updates and its parent's both report the interrupt
    builder = StateGraph(MessagesState)
    builder.add_node("trip", asking_graph())
    builder.add_edge(START, "trip")
    builder.add_edge("trip", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": f"nested-{version}"}}
    stream = graph.astream(
        ask_for("plan a trip"), config, stream_mode=MODES, subgraphs=True, version=version
    )
    events = await collect(adapter.events(stream))

    asked = of_type(events, InputRequired)
    assert [(a.prompt, a.choices) for a in asked] == [("Which city?", ["Lisbon", "Porto", "Faro"])]
    assert isinstance(events[-1], Done)


async def test_chat_anthropic_streaming_a_recorded_answer_through_a_graph():
    # the docs' setup: LangChain's ChatAnthropic (the Anthropic SDK underneath) in a graph,
    # against a loopback provider serving the recorded bytes
    async with cut_connection(wire("anthropic_thinking.sse"), chunked=False) as url:
        model = ChatAnthropic(
            model_name="claude-sonnet-4-5",
            api_key="sk-ant-test",  # type: ignore[arg-type]
            base_url=url,
            max_retries=0,
            streaming=True,
            timeout=None,
            stop=None,
        )

        async def agent(state: MessagesState):
            return {"messages": [await model.ainvoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("agent", agent)
        builder.add_edge(START, "agent")
        builder.add_edge("agent", END)
        stream = builder.compile().astream(ask_for("27 * 453?"), stream_mode=MODES)
        with anyio.fail_after(30):
            events = await collect(adapter.events(stream))

    assert [e.type for e in events] == [
        "turn", "thinking", "thinking", "token", "token", "token", "progress", "done"
    ]  # fmt: skip
    assert folded(events).text == "27 \u00d7 453 = **12,231** ✅\n"
    done = events[-1]
    assert isinstance(done, Done) and done.num_turns == 1
    # the model that answered (the response's), not the alias that was asked for
    assert done.model == "claude-sonnet-4-5-20250929"
    assert done.output_tokens == 96


async def test_a_bare_messages_stream_with_subgraphs_streams_the_inner_model():
    # stream_mode="messages" with subgraphs=True gives (namespace, (message, metadata))
    model = GenericFakeChatModel(messages=iter([AIMessage(content="hello there friend", id="m1")]))

    async def agent(state: MessagesState):
        return {"messages": [await model.ainvoke(state["messages"])]}

    inner = StateGraph(MessagesState)
    inner.add_node("agent", agent)
    inner.add_edge(START, "agent")
    inner.add_edge("agent", END)
    outer = StateGraph(MessagesState)
    outer.add_node("inner", inner.compile())
    outer.add_edge(START, "inner")
    outer.add_edge("inner", END)
    stream = outer.compile().astream(ask_for("hi"), stream_mode="messages", subgraphs=True)
    events = await collect(adapter.events(stream))

    assert [e.type for e in events][:2] == ["turn", "token"]
    assert folded(events).text == "hello there friend"


async def test_a_tool_answering_in_content_blocks_is_summarized_by_its_text():
    # MCP tools (langchain-mcp-adapters) and others answer with a list of content blocks
    @tool
    async def weather(city: str) -> list[dict[str, str]]:
        """The weather in a city."""
        return [{"type": "text", "text": "Sunny, 24 °C"}, {"type": "text", "text": f"in {city}"}]

    calls = AIMessage(
        content="",
        id="msg-w",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_w"}],
    )
    model = FakeMessagesListChatModel(responses=[calls, AIMessage(content="Sunny.", id="m2")])

    async def agent(state: MessagesState):
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([weather]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    events = await collect(
        adapter.events(builder.compile().astream(ask_for("x"), stream_mode=MODES))
    )

    result = of_type(events, ToolResult)[0]
    assert result.output_summary == "Sunny, 24 °C in Paris"
    assert isinstance(result.output, list) and len(result.output) == 2
