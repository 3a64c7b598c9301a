// Runs of every event type, in orders real agents produce, through the bridges to the real
// peers: @ag-ui/client's HttpAgent (every event checked with @ag-ui/core's schemas) and the AI
// SDK's chat (AbstractChat, what useChat runs, over DefaultChatTransport). Served by
// tests/bridges/scripted_app.py, whose agent yields the events each request names (typed, or as
// frames written with json.dumps).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";
import { AbstractChat, DefaultChatTransport } from "ai";
import { startScriptedApp } from "./fixtures/index.mjs";

const token = (text, extra = {}) => ({ type: "token", data: { text, ...extra } });
const thinking = (text) => ({ type: "thinking", data: { text } });
const toolUse = (id, input) => ({ type: "tool_use", data: { tool_name: "search", tool_use_id: id, input } });
const toolResult = (id, extra = {}) => ({ type: "tool_result", data: { tool_name: "search", tool_use_id: id, ...extra } });
const progress = (step, percentage) => ({ type: "progress", data: { step, percentage, message: `${step} ${percentage}` } });
const turn = (n) => ({ type: "turn", data: { turn_number: n } });
const error = (message) => ({ type: "error", data: { error_type: "RuntimeError", message } });
const done = (data = {}) => ({ type: "done", data });

/** name -> [events, AG-UI's last event, whether useChat ends in error, AG-UI's text if not the tokens'] */
const RUNS = {
  "every type, interleaved with text": [
    [
      progress("plan", 0),
      thinking("Let me think 🤔 "),
      thinking("in 中文 too"),
      turn(1),
      token("Olá "),
      progress("plan", 50),
      token("naïve café ☕ "),
      { type: "creation", data: { creation_type: "file", count: 1, items: [{ name: "a.md" }] } },
      toolUse("tu_1", { q: "Lisbon" }),
      toolResult("tu_1", { output: ["a", "b"], output_summary: "2 hits" }),
      toolUse("tu_2", "not an object"),
      toolResult("tu_2", { status: "error", output_summary: "boom" }),
      turn(2),
      token("🎉👩‍👩‍👧 \u2028 \"q\" \\ ", { message_id: "m_2" }),
      error("recoverable"),
      token("after", { message_id: "m_2" }),
      { type: "future_type", data: { k: [1, 2] } },
      { type: "future_list", data: [1, 2] },
      { type: "future_text", data: "plain" },
      progress("plan", 100),
      done({ model: "demo", input_tokens: 12, output_tokens: 3 }),
    ],
    "RUN_FINISHED",
    false,
  ],
  "a tool result whose call was never announced": [
    [token("I looked it up. "), toolResult("tu_9", { output: { hits: 3 } }), token("Done."), done()],
    "RUN_FINISHED",
    false,
  ],
  "message ids that switch and come back": [
    [token("a", { message_id: "m1" }), token("b", { message_id: "m2" }), token("c", { message_id: "m1" }), done()],
    "RUN_FINISHED",
    false,
    "acb", // AG-UI's messages by id: m1 "ac", then m2 "b"
  ],
  "empty tokens and an empty run": [[token(""), token(""), done()], "RUN_FINISHED", false],
  "no events at all": [[], "RUN_FINISHED", false],
  cancelled: [[token("stop me"), done({ reason: "cancelled" })], "RUN_FINISHED", false],
  interrupted: [[thinking("hmm"), progress("fetch", 30), error("the producer died"), done({ reason: "interrupted" })], "RUN_ERROR", false],
  "failed with an error": [[turn(1), token("partial ✂"), error("the agent raised ValueError: bad"), done({ reason: "error" })], "RUN_ERROR", true],
  "failed without an error event": [[token("partial"), done({ reason: "error" })], "RUN_ERROR", true],
};

// agents that yield SSE frames they wrote themselves (json.dumps: `{"text": "…", "message_id": …}`)
for (const name of ["every type, interleaved with text", "message ids that switch and come back"]) {
  RUNS[`${name}, as hand-written frames`] = [...RUNS[name]];
}
const knobsOf = (name, events) => ({ events, as_frames: name.endsWith("as hand-written frames") });

const textOf = (events) => events.filter((e) => e.type === "token").map((e) => e.data.text).join("");

class Chat extends AbstractChat {
  constructor(init) {
    const state = {
      status: "ready",
      error: undefined,
      messages: [],
      pushMessage(message) {
        this.messages = [...this.messages, message];
      },
      popMessage() {
        this.messages = this.messages.slice(0, -1);
      },
      replaceMessage(index, message) {
        this.messages = this.messages.map((m, i) => (i === index ? message : m));
      },
      snapshot: (value) => structuredClone(value),
    };
    super({ ...init, state });
  }
}

describe("bridges against the real peers", () => {
  let app;
  before(async () => {
    app = await startScriptedApp();
  });
  after(async () => {
    await app?.stop();
  });

  for (const [name, [events, agUiEnd, isFailed, agUiText]] of Object.entries(RUNS)) {
    test(`AG-UI HttpAgent: ${name}`, async () => {
      const agent = new HttpAgent({
        url: `${app.url}/api/ag-ui`,
        initialMessages: [{ id: randomUUID(), role: "user", content: "hi" }],
      });
      const seen = [];
      await agent.runAgent(
        { runId: randomUUID(), forwardedProps: knobsOf(name, events) },
        {
          onEvent({ event }) {
            const checked = EventSchemas.safeParse(event);
            assert.ok(checked.success, `${event.type} fails @ag-ui/core's schema: ${checked.error}`);
            seen.push(event);
          },
        },
      );
      assert.equal(seen[0].type, "RUN_STARTED");
      assert.equal(seen.at(-1).type, agUiEnd);
      const text = agent.messages
        .filter((m) => m.role === "assistant" && typeof m.content === "string")
        .map((m) => m.content)
        .join("");
      assert.equal(text, agUiText ?? textOf(events));
    });

    test(`AI SDK chat: ${name}`, async () => {
      const errors = [];
      const chat = new Chat({
        id: randomUUID(),
        transport: new DefaultChatTransport({ api: `${app.url}/api/ai-sdk/chat`, body: knobsOf(name, events) }),
        onError: (e) => errors.push(e.message),
      });
      await chat.sendMessage({ text: "hi" });
      const message = chat.messages.at(-1);
      assert.equal(message.role, "assistant");
      const text = message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
      assert.equal(text, textOf(events));
      const failure = events.findLast((e) => e.type === "error")?.data.message ?? "the run failed";
      if (!isFailed) {
        assert.deepEqual(errors, []);
        assert.equal(chat.status, "ready");
      } else {
        assert.deepEqual(errors, [failure]);
        assert.equal(chat.status, "error");
      }
      for (const part of message.parts.filter((p) => p.type === "dynamic-tool")) {
        assert.match(part.state, /^output-(available|error)$/, `${part.toolCallId} is ${part.state}`);
      }
    });
  }
});
