"""``agent-stream demo`` starts uvicorn, prints its URL and serves the page and /healthz."""

from __future__ import annotations

import subprocess
import sys

import httpx

from agent_stream.cli import build_parser

from .processes import ROOT, cli_server


def test_demo_serves_page_healthz_and_chat() -> None:
    flags = ["--heartbeat-s", "2", "--resume-grace-s", "1", "--store-ttl-s", "4"]
    with cli_server(["demo", *flags]) as server:
        assert f"serving on {server.url}" in server.text()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            health = client.get("/healthz").json()
            assert health["runs_started"] == 0 and health["runs_active"] == 0
            page = client.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            chat = client.post("/api/chat", json={"tokens": 3, "token_delay_ms": 0})
            assert chat.text.count("event: token") == 3
            assert '"heartbeat_ms":2000' in chat.text
            assert '"resume_window_ms":5000' in chat.text  # grace 1 s + store ttl 4 s
            assert client.get("/healthz").json()["runs_started"] == 1


def test_demo_flags_parse() -> None:
    args = build_parser().parse_args(
        ["demo", "--port", "9", "--redis", "redis://x", "--workers", "3", "--record", "r.jsonl"]
    )
    assert (args.host, args.port, args.workers, args.redis, args.record) == (
        "127.0.0.1",
        9,
        3,
        "redis://x",
        "r.jsonl",
    )
    assert (args.heartbeat_s, args.resume_grace_s, args.store_ttl_s) == (15.0, 30.0, 300.0)


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent_stream.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=True,
    )
    for command in ("demo", "replay", "tail", "validate"):
        assert command in result.stdout
