import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests run against the sources (no build needed): the packages resolve to their src/.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@agent-stream\/client$/, replacement: src("client") },
      // the client's other entry points (`@agent-stream/client/persist`, ...): src/<name>.ts
      { find: /^@agent-stream\/client\/([\w-]+)$/, replacement: fileURLToPath(new URL("./packages/client/src/$1.ts", import.meta.url)) },
      { find: /^@agent-stream\/react$/, replacement: src("react") },
      { find: /^@agent-stream\/ag-ui$/, replacement: src("ag-ui") },
    ],
  },
  test: {
    testTimeout: 10_000,
    projects: [
      {
        extends: true,
        test: { name: "client", include: ["packages/client/test/**/*.test.ts"], environment: "node" },
      },
      {
        extends: true,
        test: { name: "ag-ui", include: ["packages/ag-ui/test/**/*.test.ts"], environment: "node" },
      },
      {
        extends: true,
        test: { name: "demo", include: ["demo/test/**/*.test.ts"], environment: "node" },
      },
      {
        extends: true,
        test: { name: "react", include: ["packages/react/test/**/*.test.{ts,tsx}"], environment: "happy-dom" },
      },
    ],
  },
});
