from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_stream.emitter import AgentStreamEmitter
from agent_stream.errors import InvalidEventError, UsageError
from agent_stream.events import EVENT_TYPES, JSONValue, Start, encode_data, parse_event
from agent_stream.schema import build_schema, load_schema, main, render_schema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "spec" / "events.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def data_errors(event_type: str, data: object) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors({"type": event_type, "data": data})]


def frames_of(text: str) -> list[tuple[str, Any]]:
    """(event, parsed data) of each frame, by the naive reading every data line allows."""
    out = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_committed_schema_is_generated_from_events_py() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "spec/events.schema.json is stale: run "
        ".venv/bin/python -m agent_stream.schema spec/events.schema.json"
    )


def test_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_one_definition_per_event_type_with_required_fields_without_defaults() -> None:
    assert set(SCHEMA["$defs"]) == set(EVENT_TYPES)
    for event_type, cls in EVENT_TYPES.items():
        definition = SCHEMA["$defs"][event_type]
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        required = sorted(f.name for f in info.fields if f.required)
        assert sorted(definition.get("required", [])) == required, event_type
        assert definition["additionalProperties"] is True
        assert definition["description"]
        assert all("description" in p for p in definition["properties"].values()), event_type


def test_enums_for_status_and_reason() -> None:
    defs = SCHEMA["$defs"]
    assert defs["tool_use"]["properties"]["status"]["enum"] == ["running"]
    assert defs["tool_result"]["properties"]["status"]["enum"] == ["done", "error"]
    assert sorted(defs["done"]["properties"]["reason"]["enum"]) == [
        "cancelled",
        "completed",
        "error",
        "interrupted",
    ]


def test_cli_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == build_schema()
    target = tmp_path / "schema.json"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_schema()
    assert main(["a", "b"]) == 2


def test_cli_options_are_not_taken_for_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m agent_stream.schema [PATH]")
    assert main(["--output"]) == 2
    assert "--output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def every_frame(emitter: AgentStreamEmitter) -> str:
    return "".join(
        [
            emitter.token("Hello, 世界 😀\n"),
            emitter.token("x", message_id="m1"),
            emitter.thinking("hm", message_id="m1"),
            emitter.tool_use("search", "tu_1", "q=1", input={"q": 1}),
            emitter.tool_result("search", "tu_1", "2 hits", 12, output=[1, 2]),
            emitter.tool_result("search", "tu_2", is_error=True),
            emitter.turn(2, 1),
            emitter.progress("s", 50.5, "half", {"a": 1}),
            emitter.creation("file", 1, "tu_1", [{"name": "a"}]),
            emitter.error("E", "boom", {"k": "v"}),
            emitter.input_required("r1", "Pick", ["a", "b"], {"type": "string"}, respond_url="/x"),
            emitter.input_response("r1", "a"),
            emitter.done("m", 1, 2, 3, "model", 0.5, reason="completed"),
        ]
    )


def test_every_frame_our_emitter_makes_validates() -> None:
    frames = frames_of(every_frame(AgentStreamEmitter("s1")))
    start = Start(stream_id="AAAAAAAAAAAAAAAAAAAAAA", resume_url="/r", stop_url="/s", resumed=True)
    frames += [("start", json.loads(encode_data(start))), ("reconnect", {"reason": "x"})]
    assert {t for t, _ in frames} == set(EVENT_TYPES)
    for event_type, data in frames:
        assert data_errors(event_type, data) == [], (event_type, data)


def test_every_frame_the_original_emitter_makes_validates(
    original_emitter_module: ModuleType,
) -> None:
    original = original_emitter_module.AgentStreamEmitter()
    text = "".join(
        [
            original.token("hi"),
            original.thinking("hm"),
            original.tool_use("t", "u"),
            original.tool_result("t", "u", "ok", 5, True),
            original.turn(1),
            original.progress("s", 1, "m", {"x": 1}),
            original.creation("file", 2),
            original.error("E", "m"),
            original.done(),
        ]
    )
    for event_type, data in frames_of(text):
        assert data_errors(event_type, data) == [], (event_type, data)


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("token", {}),
        ("token", {"text": 5}),
        ("tool_use", {"tool_name": "t"}),
        ("tool_use", {"tool_name": "t", "tool_use_id": "u", "status": "done"}),
        ("tool_result", {"tool_name": "t", "tool_use_id": "u", "status": "running"}),
        ("tool_result", {"tool_name": "t", "tool_use_id": "u", "duration_ms": "5"}),
        ("turn", {"turn_number": "1"}),
        ("progress", {"step": "s", "message": "m"}),
        ("creation", {"creation_type": "f", "count": 1, "items": [1]}),
        ("error", {"error_type": "E"}),
        ("done", {"reason": "finished"}),
        ("done", {"synthetic": "yes"}),
        ("input_required", {"request_id": "r", "prompt": "p", "choices": [1]}),
        ("start", {}),
        ("token", ["text"]),
    ],
)
def test_schema_and_parser_reject_the_same_bad_data(event_type: str, data: object) -> None:
    assert data_errors(event_type, data)
    with pytest.raises(InvalidEventError):
        parse_event(event_type, json.dumps(data))


def test_unknown_types_and_extra_fields_pass() -> None:
    assert data_errors("citation", {"anything": [1]}) == []
    assert data_errors("token", {"text": "a", "new_field": 1}) == []


json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
texts = st.text()  # includes lone surrogates, which the emitter must refuse


@given(
    st.sampled_from(["token", "thinking", "tool_use", "tool_result", "error", "progress"]),
    texts,
    json_values,
)
def test_random_payloads_validate_and_round_trip(kind: str, text: str, value: JSONValue) -> None:
    emitter = AgentStreamEmitter()
    try:
        frame = {
            "token": lambda: emitter.token(text),
            "thinking": lambda: emitter.thinking(text),
            "tool_use": lambda: emitter.tool_use(text, text, text, input=value),
            "tool_result": lambda: emitter.tool_result(text, "u", text, 3, output=value),
            "error": lambda: emitter.error(text, text, {"v": value}),
            "progress": lambda: emitter.progress(text, 1.5, text),
        }[kind]()
    except UsageError:  # lone surrogates cannot be UTF-8
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    [(event_type, data)] = frames_of(frame)
    assert data_errors(event_type, data) == []
    event = parse_event(event_type, json.dumps(data))
    assert json.loads(encode_data(event)) == data


def test_the_package_ships_the_spec_schema() -> None:
    assert load_schema() == SCHEMA
