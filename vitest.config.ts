import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Workspace packages resolve to their TypeScript sources, so tests need no build.
    conditions: ["@entente/source"],
  },
  ssr: { resolve: { conditions: ["@entente/source"] } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "services/*/test/**/*.test.ts",
      "test/e2e/**/*.test.ts",
      "test/deploy/**/*.test.ts",
    ],
    pool: "forks",
    // Two cores: suites start their own nats-server processes, so keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
