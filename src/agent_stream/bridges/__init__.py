"""Bridges: serve one agent-stream run in other UI protocols, with our resume and stop.

- :mod:`agent_stream.bridges.ag_ui`: AG-UI events (``@ag-ui/client``'s ``HttpAgent``, CopilotKit).
- :mod:`agent_stream.bridges.ai_sdk`: the Vercel AI SDK UI message stream (``useChat``).

The encoders are sans-I/O (core only); the route factories need the ``server`` extra.
"""
