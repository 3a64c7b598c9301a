import { useEffect, useState } from "react";

/** Which agent answers /api/chat: the scripted one, or a real model (when the server has an API key). */
export type AgentInfo = { agent: "scripted" } | { agent: "model"; provider: string; model: string };

function parseAgentInfo(value: unknown): AgentInfo | null {
  if (typeof value !== "object" || value === null) return null;
  const record = value as { agent?: unknown; provider?: unknown; model?: unknown };
  if (record.agent === "scripted") return { agent: "scripted" };
  if (record.agent === "model" && typeof record.provider === "string" && typeof record.model === "string") {
    return { agent: "model", provider: record.provider, model: record.model };
  }
  return null;
}

/** GET /api/agent once; null until it answers (or if the server does not say). */
export function useAgentInfo(): AgentInfo | null {
  const [info, setInfo] = useState<AgentInfo | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    fetch("/api/agent", { signal: controller.signal })
      .then((response) => (response.ok ? response.json() : null))
      .then((value: unknown) => setInfo(parseAgentInfo(value)))
      .catch(() => undefined);
    return () => controller.abort();
  }, []);
  return info;
}

export function agentLabel(info: AgentInfo): string {
  return info.agent === "scripted" ? "Scripted agent" : `Live model: ${info.model} (${info.provider})`;
}
