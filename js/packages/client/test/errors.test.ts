import { expect, test } from "vitest";
import * as errors from "../src/errors";

// names are set by each class, not read from the constructor: a minifier renames classes
const classes = Object.entries(errors).filter(
  (entry): entry is [string, typeof errors.AgentStreamError] => typeof entry[1] === "function" && entry[1].prototype instanceof Error,
);

test.each(classes)("%s names itself and has its default code", (name, ErrorClass) => {
  const error = new ErrorClass("what happened", { status: 500, eventType: "token", code: undefined } as never);
  expect(error.name).toBe(name);
  expect(error).toBeInstanceOf(errors.AgentStreamError);
  expect(error.code).toBe((ErrorClass as unknown as { defaultCode: string }).defaultCode);
  expect(String(error)).toBe(`${name}: what happened`);
});

test("a cause is kept, and only when given", () => {
  const cause = new Error("root");
  expect(new errors.AgentStreamError("x", { cause }).cause).toBe(cause);
  expect("cause" in new errors.AgentStreamError("x")).toBe(false);
});
