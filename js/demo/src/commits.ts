import type { ProfilerOnRenderCallback } from "react";

/**
 * React commits of the streamed-text component, counted by <Profiler onRender>. The e2e tests and
 * the browser bench read `window.__agentStreamCommits`; the production build aliases
 * react-dom/profiling so onRender fires there too.
 */
export interface CommitLog {
  count: number;
  /** performance.now() of each commit, for per-second rates. */
  times: number[];
  reset(): void;
}

declare global {
  interface Window {
    __agentStreamCommits: CommitLog;
  }
}

const log: CommitLog = {
  count: 0,
  times: [],
  reset() {
    log.count = 0;
    log.times = [];
  },
};
window.__agentStreamCommits = log;

export const countCommit: ProfilerOnRenderCallback = (_id, _phase, _actual, _base, _start, commitTime) => {
  log.count += 1;
  log.times.push(commitTime);
};
