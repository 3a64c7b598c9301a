"""Connection scheduling without a server: when the shared heartbeat timer looks again."""

from __future__ import annotations

from agent_stream.framing import SSEFraming
from agent_stream.server import MemoryStore, RunManager, StreamOptions
from agent_stream.server.connection import Connection


def test_a_late_look_keeps_each_connections_ping_schedule() -> None:
    # Pings due at 2.0 and 2.5 s, looked at only at 2.8 s (the loop stalled in a full GC):
    # both are sent now, but their next looks stay half a second apart instead of merging
    # into one burst every heartbeat from then on.
    options = StreamOptions(heartbeat_s=2.0)
    manager = RunManager(MemoryStore(), options=options, handle_signals=False)
    early, late = (Connection(manager, f"s{i}", 0, options, SSEFraming(f"s{i}")) for i in range(2))
    early._last_write, late._last_write = 0.0, 0.5
    assert early._check(2.8) == 4.0
    assert late._check(2.8) == 4.5
    assert (early._ping_due, late._ping_due) == (2.0, 2.5)


def test_a_ping_held_longer_than_half_a_heartbeat_is_followed_at_least_that_late() -> None:
    options = StreamOptions(heartbeat_s=2.0)
    manager = RunManager(MemoryStore(), options=options, handle_signals=False)
    connection = Connection(manager, "s", 0, options, SSEFraming("s"))
    assert connection._check(5.0) == 6.0  # due at 2.0: never sooner than now + step / 2
