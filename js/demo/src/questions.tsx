/** The agent's question as a card (options, free text, time left) and the answers in the transcript. */
import type { EventData } from "@agent-stream/client";
import { useEffect, useState } from "react";

type Question = EventData<"input_required">;
type Answer = EventData<"input_response">;

function secondsLeft(expiresAt: string | undefined, now: number): number | null {
  if (expiresAt === undefined) return null;
  const at = Date.parse(expiresAt);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

function describe(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Why the server refused an answer, in words (its JSON error's reason or message). */
function refusal(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  const status = (error as { status?: unknown }).status;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as { error?: { reason?: string; message?: string } };
      const text = parsed.error?.reason ?? parsed.error?.message;
      if (text !== undefined) return typeof status === "number" ? `${status}: ${text}` : text;
    } catch {
      // not JSON: fall through to the error's own message
    }
  }
  return error instanceof Error ? error.message : String(error);
}

export function QuestionCard({ question, respond }: { question: Question; respond: (answer: unknown) => Promise<unknown> }) {
  const [now, setNow] = useState(() => Date.now());
  const [draft, setDraft] = useState("");
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    setDraft("");
    setProblem(null);
  }, [question.request_id]);

  const send = async (answer: unknown) => {
    setSending(true);
    setProblem(null);
    try {
      await respond(answer);
    } catch (error) {
      setProblem(refusal(error));
    } finally {
      setSending(false);
    }
  };

  const left = secondsLeft(question.expires_at, now);
  const choices = question.choices ?? [];
  const takesText = choices.length === 0 || question.allows_free_text === true;
  const isApproval = question.tool_name !== undefined;
  return (
    <section className="question" data-testid="question" aria-label="The agent asks">
      <div className="question-head">
        <span className="question-prompt" data-testid="question-prompt">
          {question.prompt}
        </span>
        {left !== null ? (
          <span className="question-time muted" data-testid="question-time-left">
            {left} s left
          </span>
        ) : null}
      </div>
      {isApproval ? (
        <pre className="question-tool mono" data-testid="question-tool">
          {question.tool_name}({question.tool_input === undefined ? "" : JSON.stringify(question.tool_input)})
        </pre>
      ) : null}
      {choices.length > 0 ? (
        <div className="question-options">
          {choices.map((choice) => (
            <button
              key={choice}
              type="button"
              className="button button-option"
              data-testid="question-option"
              disabled={sending}
              onClick={() => void send(choice)}
            >
              {choice}
            </button>
          ))}
        </div>
      ) : null}
      {takesText ? (
        <form
          className="question-form"
          onSubmit={(event) => {
            event.preventDefault();
            const text = draft.trim();
            if (text === "") return;
            let answer: unknown = text;
            if (question.schema !== undefined) {
              try {
                answer = JSON.parse(text);
              } catch {
                answer = text;
              }
            }
            void send(answer);
          }}
        >
          <input
            data-testid="question-input"
            aria-label="Your answer"
            placeholder={choices.length > 0 ? "…or type your own" : "Your answer"}
            value={draft}
            disabled={sending}
            onChange={(event) => setDraft(event.target.value)}
          />
          <button type="submit" className="button button-primary" data-testid="question-submit" disabled={sending || draft.trim() === ""}>
            Answer
          </button>
        </form>
      ) : null}
      {problem !== null ? (
        <p className="question-problem" role="alert" data-testid="question-error">
          {problem}
        </p>
      ) : null}
    </section>
  );
}

/** The closed questions, as lines of the transcript. */
export function Answers({ answers }: { answers: readonly Answer[] }) {
  if (answers.length === 0) return null;
  return (
    <ul className="answers">
      {answers.map((answer) => (
        <li key={answer.request_id} className="bubble bubble-user answer-line" data-testid="answer">
          {answer.status === "answered"
            ? `You answered: ${describe(answer.answer)}`
            : answer.status === "expired"
              ? "Nobody answered in time"
              : "You declined to answer"}
        </li>
      ))}
    </ul>
  );
}
