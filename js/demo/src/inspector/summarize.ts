/** One line per event for the inspector's log: what a person scanning the run wants to see. */
import type { AgentEvent } from "@agent-stream/client";

const MAX_CHARS = 80;

function clip(text: string, max = MAX_CHARS): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function summarize(event: AgentEvent): string {
  switch (event.type) {
    case "token":
    case "thinking":
      return clip(JSON.stringify(event.data.text));
    case "tool_use":
      return clip(`${event.data.tool_name} ${event.data.input_summary ?? ""}`);
    case "tool_result": {
      const { tool_name, status, duration_ms, output_summary } = event.data;
      return clip(`${tool_name} ${status ?? "done"}${duration_ms ? ` in ${duration_ms} ms` : ""} · ${output_summary ?? ""}`);
    }
    case "turn":
      return `turn ${event.data.turn_number}`;
    case "progress":
      return clip(`${event.data.percentage}% ${event.data.message}`);
    case "error":
      return clip(`${event.data.error_type}: ${event.data.message}`);
    case "done":
      return clip(`${event.data.reason ?? "completed"}${event.data.synthetic ? " (synthetic)" : ""}`);
    case "start":
      return clip(`stream ${event.data.stream_id}`);
    case "input_required":
      return clip(event.data.prompt);
    default:
      return clip(JSON.stringify(event.data));
  }
}
