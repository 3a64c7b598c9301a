"""FastAPI + Anthropic: Claude with two tools, streamed as agent-stream events.

    pip install 'agent-event-stream[fastapi,anthropic]'
    ANTHROPIC_API_KEY=... python examples/fastapi_anthropic/app.py   # http://127.0.0.1:8000

Then: agent-stream tail http://127.0.0.1:8000/api/chat --data '{"message": "What is 27 * 453?"}'
"""

import os
from datetime import UTC, datetime

import uvicorn
from anthropic import AsyncAnthropic
from fastapi import FastAPI
from pydantic import BaseModel

from agent_stream.adapters import tool_loop
from agent_stream.fastapi import agent_stream_response
from agent_stream.starlette import mount_stream_routes

app = FastAPI()
mount_stream_routes(app)
client = AsyncAnthropic()  # ANTHROPIC_API_KEY, and ANTHROPIC_BASE_URL when set


class ChatRequest(BaseModel):
    message: str


async def clock() -> str:
    """The current date and time in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


async def calculator(expression: str) -> str:
    """Multiply two integers written as 'a * b'."""
    left, right = expression.split("*")
    return str(int(left) * int(right))


@app.post("/api/chat")
async def chat(req: ChatRequest):
    run = tool_loop(
        client,
        model=os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-5"),
        messages=[{"role": "user", "content": req.message}],
        tools=[clock, calculator],
        system="Use the tools for the time and for arithmetic.",
        max_tokens=1024,
    )
    return agent_stream_response(run)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
