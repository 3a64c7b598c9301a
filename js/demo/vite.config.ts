import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const staticDir = fileURLToPath(new URL("../../src/agent_stream/demo/static/", import.meta.url));

// The Python demo app serves this build at `/`. `--mode development` keeps React's development
// build (StrictMode double-invokes effects there only); the e2e suite builds that one elsewhere.
export default defineConfig(({ mode }) => ({
  plugins: [react()],
  base: "./",
  resolve: {
    // The profiling build keeps <Profiler onRender> alive in production, so the e2e tests and the
    // browser bench can count React commits of the text component.
    alias: mode === "production" ? [{ find: /^react-dom\/client$/, replacement: "react-dom/profiling" }] : [],
  },
  define: { "process.env.NODE_ENV": JSON.stringify(mode === "production" ? "production" : "development") },
  build: {
    outDir: staticDir,
    emptyOutDir: true,
    minify: mode === "production",
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  // the inspector imports the report's timeline stylesheet from the Python package (one source)
  server: { fs: { allow: [fileURLToPath(new URL("../..", import.meta.url))] }, proxy: { "/api": "http://127.0.0.1:8000", "/healthz": "http://127.0.0.1:8000" } },
}));
