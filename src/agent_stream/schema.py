"""Generate ``spec/events.schema.json`` (JSON Schema 2020-12) from the event types in events.py.

``python -m agent_stream.schema`` prints the schema; ``python -m agent_stream.schema PATH``
writes it to PATH. A test keeps the committed file equal to the output.

The schema has one ``$defs`` entry per event type, keyed by its SSE event name (``token``,
``tool_use``, ...), describing that event's ``data``. Every definition allows extra properties,
so an older reader accepts a newer writer's fields. The root schema validates an envelope
``{"type": <event name>, "data": {...}}`` (the shape of recordings and conformance vectors):
known types are checked against their definition, unknown ones pass.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from importlib import resources
from typing import Any

import msgspec

from .events import EVENT_TYPES, PROTOCOL_VERSION

__all__ = ["SCHEMA_ID", "build_schema", "load_schema", "main", "render_schema"]

SCHEMA_ID = "https://agent-stream.dev/schema/events.schema.json"
_INLINE_CODE = re.compile(r"``([^`]+)``")


def _description(text: str) -> str:
    # Docstrings use reST ``code``; the schema (and the TS types made from it) use Markdown.
    return _INLINE_CODE.sub(r"`\1`", inspect.cleandoc(text))


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        cleaned = {key: _clean(value) for key, value in node.items()}
        any_of = cleaned.get("anyOf")
        if any_of is not None and any_of and all(len(b) == 1 and "type" in b for b in any_of):
            types = {branch["type"] for branch in any_of}
            if types == {"integer", "number"}:
                # ``int | float``: JSON Schema's number already includes integers.
                del cleaned["anyOf"]
                cleaned["type"] = "number"
        if "description" in cleaned and isinstance(cleaned["description"], str):
            cleaned["description"] = _description(cleaned["description"])
        return cleaned
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def build_schema() -> dict[str, Any]:
    """The events schema as a dict."""
    names = {cls.__name__: event_type for event_type, cls in EVENT_TYPES.items()}
    _, components = msgspec.json.schema_components(
        list(EVENT_TYPES.values()), ref_template="#/$defs/{name}"
    )
    definitions: dict[str, Any] = {}
    for class_name, component in components.items():
        event_type = names.get(class_name)
        if event_type is None:  # pragma: no cover - only event structs are passed in
            raise RuntimeError(f"unexpected schema component {class_name}")
        definition = _clean(component)
        if not definition.get("required"):
            definition.pop("required", None)
        definition["additionalProperties"] = True
        definitions[event_type] = {
            "title": definition.pop("title"),
            "description": definition.pop("description"),
            **definition,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "agent-stream events",
        "description": (
            f"Data of every agent-stream event type, protocol version {PROTOCOL_VERSION}. "
            "Each `$defs` entry, keyed by the SSE event name, types the JSON of that event's "
            "`data:` line. The root validates an envelope `{type, data}`; unknown types pass "
            "(clients ignore them). Generated from src/agent_stream/events.py by "
            "`python -m agent_stream.schema`; do not edit by hand."
        ),
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": "The SSE event name."},
            "data": {"description": "The event's data."},
        },
        "required": ["type", "data"],
        "allOf": [
            {
                "if": {"properties": {"type": {"const": event_type}}},
                "then": {"properties": {"data": {"$ref": f"#/$defs/{event_type}"}}},
            }
            for event_type in EVENT_TYPES
        ],
        "$defs": definitions,
    }


def load_schema() -> dict[str, Any]:
    """The schema shipped with the package (``agent_stream/events.schema.json``), parsed.

    The same document as ``spec/events.schema.json``; for validating events with a JSON Schema
    library, e.g. ``jsonschema.Draft202012Validator(load_schema())``.
    """
    text = resources.files("agent_stream").joinpath("events.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_schema() -> str:
    """The schema as the committed file holds it: 2-space indented JSON and a final newline."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


_USAGE = (
    "usage: python -m agent_stream.schema [PATH]\n"
    "Print the JSON Schema of agent-stream's events, or write it to PATH.\n"
)


def main(argv: list[str] | None = None) -> int:
    """Print the schema, or write it to the path given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        sys.stdout.write(_USAGE)
        return 0
    if len(args) > 1 or (args and args[0].startswith("-")):
        # an option is never taken for a path (`--help` wrote the schema to a file of that name)
        sys.stderr.write(f"{_USAGE}error: unexpected arguments: {' '.join(args)}\n")
        return 2
    text = render_schema()
    if not args:
        sys.stdout.write(text)
        return 0
    with open(args[0], "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
