export { ResumableHttpAgent } from "./http-agent.js";
export type { ResumableHttpAgentConfig } from "./http-agent.js";
export { resumingFetch } from "./resuming-fetch.js";
export type { FetchFn, ResumeOptions } from "./resuming-fetch.js";
