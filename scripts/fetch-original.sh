#!/usr/bin/env bash
# Unpack agent-event-stream 0.1.0 (the original agent-stream) into .cache/original/ for the
# interoperability tests and benchmarks. It is never installed: its import name is also
# `agent_stream`, so tests load its modules by path.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/original
[ -f "$dest/agent_stream/emitter.py" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python -m pip download -q --no-deps --dest "$tmp" agent-event-stream==0.1.0
mkdir -p "$dest"
.venv/bin/python -m zipfile -e "$tmp"/agent_event_stream-0.1.0-py3-none-any.whl "$dest"
