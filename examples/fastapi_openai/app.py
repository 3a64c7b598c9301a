"""FastAPI + OpenAI: a Chat Completions model with two tools, streamed as agent-stream events.

    pip install 'agent-event-stream[fastapi,openai]'
    OPENAI_API_KEY=... python examples/fastapi_openai/app.py   # http://127.0.0.1:8000

Any OpenAI-compatible server works: set OPENAI_BASE_URL (and OPENAI_MODEL).
"""

import os
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI
from openai import AsyncOpenAI
from pydantic import BaseModel

from agent_stream.adapters import tool_loop
from agent_stream.fastapi import agent_stream_response
from agent_stream.starlette import mount_stream_routes

app = FastAPI()
mount_stream_routes(app)
client = AsyncOpenAI()  # OPENAI_API_KEY, and OPENAI_BASE_URL when set


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
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        messages=[{"role": "user", "content": req.message}],
        tools=[clock, calculator],
    )
    return agent_stream_response(run)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
