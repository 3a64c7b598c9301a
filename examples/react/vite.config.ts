import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm start` serves the page and forwards /api to the agent-stream server (start one with
// `agent-stream demo`, or set AGENT_STREAM_URL to yours).
const upstream = process.env.AGENT_STREAM_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "./",
  // @agent-stream/* come from this repository (file: dependencies): one copy of React for all
  resolve: { dedupe: ["react", "react-dom"] },
  server: { port: 5173, proxy: { "/api": upstream } },
});
