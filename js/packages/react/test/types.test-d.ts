import type { AgentEvent, ClientSnapshot, EventData, FinishedTool, ProgressData, RespondResult } from "@agent-stream/client";
import { expectTypeOf, test } from "vitest";
import { useAgentStream, type UseAgentStreamOptions, type UseAgentStreamResult } from "../src/index";

test("the hook returns the original's names plus the new ones", () => {
  expectTypeOf<UseAgentStreamOptions["url"]>().toEqualTypeOf<string>();
  expectTypeOf(useAgentStream).toBeCallableWith({ url: "/api/chat" });
  expectTypeOf<UseAgentStreamResult["text"]>().toEqualTypeOf<string>();
  expectTypeOf<UseAgentStreamResult["isStreaming"]>().toEqualTypeOf<boolean>();
  expectTypeOf<UseAgentStreamResult["isDone"]>().toEqualTypeOf<boolean>();
  expectTypeOf<UseAgentStreamResult["activeTools"]>().toEqualTypeOf<readonly EventData<"tool_use">[]>();
  expectTypeOf<UseAgentStreamResult["tools"]>().toEqualTypeOf<readonly FinishedTool[]>();
  expectTypeOf<UseAgentStreamResult["progress"]>().toEqualTypeOf<EventData<"progress"> | null>();
  expectTypeOf<UseAgentStreamResult["progress"]>().toExtend<ProgressData | null>();
  expectTypeOf<UseAgentStreamResult["startStream"]>().returns.toEqualTypeOf<Promise<ClientSnapshot>>();
  expectTypeOf<UseAgentStreamResult["stop"]>().returns.toEqualTypeOf<Promise<void>>();
  expectTypeOf<UseAgentStreamResult["reset"]>().returns.toEqualTypeOf<void>();
  expectTypeOf<UseAgentStreamResult["respond"]>().parameter(0).toEqualTypeOf<unknown>();
  expectTypeOf<UseAgentStreamResult["respond"]>().returns.toEqualTypeOf<Promise<RespondResult>>();
  expectTypeOf<UseAgentStreamResult["inputRequired"]>().toEqualTypeOf<EventData<"input_required"> | null>();
  expectTypeOf<UseAgentStreamResult["answers"]>().toEqualTypeOf<readonly EventData<"input_response">[]>();
});

test("batching takes the demo's mode names", () => {
  expectTypeOf<"fixed" | "adaptive" | "frame">().toExtend<UseAgentStreamOptions["batching"]>();
});

test("events narrow by type", () => {
  expectTypeOf<Extract<AgentEvent, { type: "token" }>["data"]["text"]>().toEqualTypeOf<string>();
});

test("agent-stream 0.1's call signature: useAgentStream() then startStream('/chat', { message })", () => {
  const legacy = () => useAgentStream();
  expectTypeOf(legacy).returns.toHaveProperty("startStream").toEqualTypeOf<(url: string, body?: unknown) => Promise<ClientSnapshot>>();
  expectTypeOf(legacy).returns.toHaveProperty("startStream").toBeCallableWith("/chat", { message: "hi" });
  // with { url }: the body alone, or another endpoint for this run
  const withUrl = () => useAgentStream({ url: "/api/chat" });
  expectTypeOf(withUrl).returns.toHaveProperty("startStream").toBeCallableWith({ message: "hi" });
  expectTypeOf(withUrl).returns.toHaveProperty("startStream").toBeCallableWith("/chat", { message: "hi" });
  const noEndpoint = () =>
    // @ts-expect-error without a url on the hook, startStream needs the endpoint
    useAgentStream().startStream();
  void noEndpoint;
});
