"""What a line typed at ``agent-stream tail``'s prompt answers."""

from __future__ import annotations

import pytest

from agent_stream.cli.tail_questions import parse_reply
from agent_stream.events import InputRequired

CITIES = InputRequired(request_id="r", prompt="City?", choices=["Lisbon", "Porto", "Faro"])
CITIES_OR_TEXT = InputRequired(
    request_id="r", prompt="City?", choices=["Lisbon", "Porto"], allows_free_text=True
)
NIGHTS = InputRequired(request_id="r", prompt="Nights?", schema={"type": "integer"})
FREE = InputRequired(request_id="r", prompt="Anything?")


@pytest.mark.parametrize(
    ("question", "line", "answer"),
    [
        (CITIES, "2\n", "Porto"),
        (CITIES, " Faro ", "Faro"),
        (CITIES, "4", None),  # out of range, and not a choice
        (CITIES, "Braga", None),
        (CITIES, "   ", None),
        (CITIES_OR_TEXT, "1", "Lisbon"),
        (CITIES_OR_TEXT, "Évora 🏰", "Évora 🏰"),
        (NIGHTS, "3", 3),
        (NIGHTS, '{"n": 3}', {"n": 3}),
        (NIGHTS, "three", "three"),  # not JSON: sent as text, the server says why it fails
        (FREE, "12", "12"),
    ],
)
def test_parse_reply(question: InputRequired, line: str, answer: object) -> None:
    assert parse_reply(question, line) == answer
