"""LangGraph: a ReAct agent (Claude through LangChain) streamed as agent-stream events.

pip install 'agent-event-stream[fastapi,langgraph]' langchain-anthropic
ANTHROPIC_API_KEY=... python examples/langgraph/app.py   # http://127.0.0.1:8000
"""

import os
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI
from langchain_anthropic import ChatAnthropic
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from pydantic import BaseModel

from agent_stream.adapters import langgraph
from agent_stream.fastapi import agent_stream_response
from agent_stream.starlette import mount_stream_routes


@tool
async def clock() -> str:
    """The current date and time in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@tool
async def calculator(expression: str) -> str:
    """Multiply two integers written as 'a * b'."""
    left, right = expression.split("*")
    return str(int(left) * int(right))


model = ChatAnthropic(model=os.environ.get("ANTHROPIC_MODEL", "claude-haiku-4-5"))
graph = create_react_agent(model, [clock, calculator])
app = FastAPI()
mount_stream_routes(app)


class ChatRequest(BaseModel):
    message: str


@app.post("/api/chat")
async def chat(req: ChatRequest):
    stream = graph.astream(
        {"messages": [("user", req.message)]},
        stream_mode=["messages", "updates", "custom"],
    )
    return agent_stream_response(langgraph.events(stream))


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
