import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, DEFAULT_NATS_URL, loadConfig } from "../src/config/index.ts";
import { connectionOptions } from "../src/connection.ts";

function problemsOf(attempt: () => unknown) {
  try {
    attempt();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("needs no file: the embedded default is one local region", () => {
    const { config, file } = loadConfig({ env: {} });
    expect(file).toBeUndefined();
    expect(config.region).toEqual({ name: "local", id: 1 });
    expect(config.nats.servers).toEqual([DEFAULT_NATS_URL]);
    expect(config.runtime.batchBytes).toBe(256 * 1024);
  });

  it("finds NATS in the file, else NATS_URL, else the default", () => {
    const env = { NATS_URL: "nats://10.0.0.1:4222, nats://10.0.0.2:4222" };
    expect(loadConfig({ env }).config.nats.servers).toEqual([
      "nats://10.0.0.1:4222",
      "nats://10.0.0.2:4222",
    ]);
    const text = "nats:\n  servers: nats://127.0.0.1:5222\n";
    expect(loadConfig({ text, env }).config.nats.servers).toEqual(["nats://127.0.0.1:5222"]);
  });

  it("reads the file named by ENTENTE_CONFIG", () => {
    const dir = mkdtempSync(join(tmpdir(), "entente-config-"));
    const file = join(dir, "entente.yaml");
    writeFileSync(file, "region:\n  name: eu-west\n  id: 42\n");
    const loaded = loadConfig({ env: { ENTENTE_CONFIG: file } });
    expect(loaded.file).toBe(file);
    expect(loaded.config.region).toEqual({ name: "eu-west", id: 42 });
  });

  it("names the path and line of a mistake in the file", () => {
    const text = ["region:", "  name: eu-west", "  id: 70000", "runtime:", "  batchByte: 1"].join(
      "\n",
    );
    const problems = problemsOf(() => loadConfig({ text, env: {} }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "region.id", origin: "(inline configuration):3:7" }),
        expect.objectContaining({ path: "runtime", message: expect.stringMatching(/batchByte/) }),
      ]),
    );
  });

  it("reports YAML syntax errors with their line", () => {
    const problems = problemsOf(() =>
      loadConfig({ text: "region:\n  name: [unclosed\n", env: {} }),
    );
    expect(problems[0]?.origin).toMatch(/^\(inline configuration\):\d+:\d+$/);
  });

  it("reports a missing file by name", () => {
    const problems = problemsOf(() => loadConfig({ file: "/nonexistent/entente.yaml", env: {} }));
    expect(problems[0]).toMatchObject({
      origin: "/nonexistent/entente.yaml",
      message: "no such file",
    });
  });

  it("lets environment variables override the file, and blames them for their mistakes", () => {
    const text = "runtime:\n  batchBytes: 300000\n";
    const env = { ENTENTE_RUNTIME__BATCHBYTES: "524288", ENTENTE_REGION__NAME: "ap-south" };
    const { config } = loadConfig({ text, env });
    expect(config.runtime.batchBytes).toBe(524288);
    expect(config.region.name).toBe("ap-south");

    const problems = problemsOf(() =>
      loadConfig({ text, env: { ENTENTE_RUNTIME__BATCH_BYTES: "12" } }),
    );
    expect(problems[0]).toMatchObject({
      path: "runtime.batchBytes",
      origin: "environment ENTENTE_RUNTIME__BATCH_BYTES",
    });
  });

  it("bounds streams by default and takes an inbox prefix the connection then uses", () => {
    const { config } = loadConfig({ env: {} });
    expect(config.runtime).toMatchObject({
      maxStreamCredit: 32,
      maxUnreadStreamBytes: 64 * 1024 * 1024,
    });
    const text = "nats:\n  inboxPrefix: _INBOX.alice\n";
    const prefixed = loadConfig({ text, env: {} }).config.nats;
    expect(connectionOptions(prefixed, "test").inboxPrefix).toBe("_INBOX.alice");
    for (const bad of ["_INBOX.>", "_INBOX.*.x", "a..b", ".a"]) {
      const problems = problemsOf(() =>
        loadConfig({ text: `nats:\n  inboxPrefix: "${bad}"\n`, env: {} }),
      );
      expect(problems[0]?.path, bad).toBe("nats.inboxPrefix");
    }
  });

  it("validates a service's own section with the same reporting", () => {
    const text = "instances:\n  edge-a:\n    kind: duckdb\n  edge-b:\n    kind: oracle\n";
    const loaded = loadConfig({ text, env: {} });
    const schema = z.record(z.string(), z.object({ kind: z.enum(["duckdb", "postgres"]) }));
    const problems = problemsOf(() => loaded.section("instances", schema));
    expect(problems[0]).toMatchObject({
      path: "instances.edge-b.kind",
      origin: "(inline configuration):5:11",
    });
  });

  it("reports a YAML indentation mistake at its own line and column, not 1:1", () => {
    const origins = (text: string) =>
      problemsOf(() => loadConfig({ text, env: {} })).map((p) => `${p.path} ${p.origin}`);
    // A key indented less than its siblings.
    expect(origins("region:\n  name: eu-west\n  id: 3\n nats: x\n")).toEqual([
      "(document) (inline configuration):4:1",
    ]);
    // A tab.
    expect(origins("region:\n  name: eu-west\n  id: 3\n\tnats: x\n")).toEqual([
      "(document) (inline configuration):4:1",
    ]);
    // Indented more: YAML reads it as the continuation of the value that starts at 3:7.
    expect(origins("region:\n  name: eu-west\n  id: 3\n   nats: x\n")[0]).toBe(
      "(document) (inline configuration):3:7",
    );
    const dir = mkdtempSync(join(tmpdir(), "entente-config-"));
    const file = join(dir, "entente.yaml");
    writeFileSync(
      file,
      "region:\n  name: eu-west\nruntime:\n  batchBytes: 300000\n streamCredit: 4\n",
    );
    expect(problemsOf(() => loadConfig({ file, env: {} }))[0]?.origin).toBe(`${file}:5:1`);
  });

  it("blames a mistyped or unknown override on its variable, with or without a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "entente-config-"));
    const file = join(dir, "entente.yaml");
    writeFileSync(file, "runtime:\n  batchBytes: 300000\n");
    const sources = [
      { env: {} },
      { text: "runtime:\n  batchBytes: 300000\n", env: {} },
      { file, env: {} },
    ];
    for (const source of sources) {
      const typed = problemsOf(() =>
        loadConfig({ ...source, env: { ENTENTE_RUNTIME__BATCH_BYTES: "abc" } }),
      );
      expect(typed).toEqual([
        expect.objectContaining({
          path: "runtime.batchBytes",
          origin: "environment ENTENTE_RUNTIME__BATCH_BYTES",
        }),
      ]);
      const unknown = problemsOf(() =>
        loadConfig({ ...source, env: { ENTENTE_RUNTIME__BATCHBYTEZ: "1" } }),
      );
      expect(unknown).toEqual([
        {
          path: "runtime",
          message: 'Unrecognized key: "batchbytez"',
          origin: "environment ENTENTE_RUNTIME__BATCHBYTEZ",
        },
      ]);
    }
  });

  it("lets overrides reach every known setting, even ones the file does not mention", () => {
    const env = {
      ENTENTE_RUNTIME__MAX_STREAM_CREDIT: "64",
      ENTENTE_RUNTIME__MAX_UNREAD_STREAM_BYTES: "1048576",
      ENTENTE_NATS__INBOX_PREFIX: "_INBOX.bob",
    };
    const { config } = loadConfig({ env });
    expect(config.runtime.maxStreamCredit).toBe(64);
    expect(config.runtime.maxUnreadStreamBytes).toBe(1048576);
    expect(config.nats.inboxPrefix).toBe("_INBOX.bob");
  });

  it("refuses unknown keys inside the core sections, each at its own line", () => {
    const text = [
      "region:",
      "  name: eu",
      "  nmae: x",
      "nats:",
      "  tls:",
      "    ca: x",
      "log:",
      "  lvl: debug",
    ].join("\n");
    const problems = problemsOf(() => loadConfig({ text, env: {} }));
    expect(problems).toEqual(
      expect.arrayContaining([
        {
          path: "region",
          message: 'Unrecognized key: "nmae"',
          origin: "(inline configuration):3:3",
        },
        {
          path: "nats.tls",
          message: 'Unrecognized key: "ca"',
          origin: "(inline configuration):6:5",
        },
        { path: "log", message: 'Unrecognized key: "lvl"', origin: "(inline configuration):8:3" },
      ]),
    );
  });
});
