/**
 * A worker runs all its services or none: the configuration is validated as a whole before
 * anything starts, and a service failing to start stops those that did.
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NatsServer, pingAnswers, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, loadConfig } from "../src/config/load.ts";
import type { ServiceDefinition } from "../src/service/types.ts";
import { endpoint } from "../src/service/types.ts";
import { loadWorkerConfig, startWorker, validateWorkerConfig } from "../src/worker.ts";

const alphaSchema = z.strictObject({ size: z.number().int().default(1) }).prefault({});
const betaSchema = z
  .strictObject({ kind: z.enum(["a", "b"]).default("a"), port: z.number().optional() })
  .prefault({});

/** A service that reads its own section when it starts, as the real ones do. */
function service(
  name: string,
  section: string,
  schema: z.ZodType,
  events: string[],
  fail?: Error,
): ServiceDefinition {
  return {
    name,
    version: "0.0.1",
    description: `${name} test service`,
    sections: { [section]: schema },
    start({ config }) {
      config.section(section, schema);
      events.push(`${name} start`);
      if (fail) throw fail;
      return {
        endpoints: [
          endpoint({ name: "hello", subject: `test.${name}.hello`, handler: () => name }),
        ],
        stop: () => {
          events.push(`${name} stop`);
        },
      };
    },
  };
}

describe("startWorker", () => {
  let nats: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  const configOf = (text: string) =>
    loadConfig({ text: `log: { level: silent }\n${text}`, env: { NATS_URL: nats.url } });

  it("reports the mistakes of every service's section at once and starts none", async () => {
    const events: string[] = [];
    const config = configOf("alpha:\n  size: x\nbeta:\n  kind: c\n");
    const started = startWorker({
      services: [
        service("alpha", "alpha", alphaSchema, events),
        service("beta", "beta", betaSchema, events),
      ],
      config,
    });
    const error = await started.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.path)).toEqual(["alpha.size", "beta.kind"]);
    expect(problems.map((p) => p.origin)).toEqual([
      "(inline configuration):3:9",
      "(inline configuration):5:9",
    ]);
    expect((error as Error).message).toContain("alpha.size");
    expect((error as Error).message).toContain("beta.kind");
    expect(events).toEqual([]);
    expect(await pingAnswers(nc)).toBe(0);
  });

  it("reports mistakes in the core sections together with the services' own", async () => {
    const dir = await mkdtemp(join(tmpdir(), "entente-config-"));
    const file = join(dir, "worker.yaml");
    try {
      await writeFile(
        file,
        "runtime:\n  batchBytes: small\nalpha:\n  size: x\nregoin: {}\nbeta:\n  kind: c\n",
      );
      const services = [
        service("alpha", "alpha", alphaSchema, []),
        service("beta", "beta", betaSchema, []),
      ];
      let error: unknown;
      try {
        loadWorkerConfig(file, services, []);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems.map((p) => `${p.origin.slice(file.length)} ${p.path}`)).toEqual([
        ":2:15 runtime.batchBytes",
        ":4:9 alpha.size",
        ":5:9 regoin",
        ":7:9 beta.kind",
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("applies an environment override to a service section the file does not name", async () => {
    const dir = await mkdtemp(join(tmpdir(), "entente-config-"));
    const file = join(dir, "worker.yaml");
    try {
      await writeFile(file, "log: { level: silent }\n");
      const schema = z.strictObject({ batchRows: z.number().int().default(1) }).prefault({});
      const services = [service("sql-like", "sqlLike", schema, [])];
      const config = loadWorkerConfig(file, services, [], { ENTENTE_SQLLIKE__BATCHROWS: "500" });
      expect(config.section("sqlLike", schema)).toEqual({ batchRows: 500 });
      // A typo in the key is still refused, blamed on the variable.
      expect(() =>
        loadWorkerConfig(file, services, [], { ENTENTE_SQLLIKE__BATCHROWZ: "500" }),
      ).toThrow(/environment ENTENTE_SQLLIKE__BATCHROWZ: sqlLike: Unrecognized key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown top-level key, naming it, when the known sections are given", () => {
    const services = [service("alpha", "alpha", alphaSchema, [])];
    const config = configOf("alpha: { size: 2 }\nother: { x: 1 }\nregoin:\n  name: x\n");
    let error: unknown;
    try {
      validateWorkerConfig(config, services, ["other"]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe("regoin");
    expect(problems[0]?.message).toMatch(/unknown section/);
    expect(problems[0]?.origin).toMatch(/^\(inline configuration\):\d+:\d+$/);
    // Without the list of known sections, keys are not checked (embedding, tests).
    expect(() => validateWorkerConfig(config, services)).not.toThrow();
    // Core sections and the services' own sections are always known.
    expect(() =>
      validateWorkerConfig(configOf("alpha: { size: 2 }\nruntime: {}\n"), services, []),
    ).not.toThrow();
  });

  it("stops the services that started when a later one fails, and closes the connection", async () => {
    const events: string[] = [];
    const config = configOf("");
    const started = startWorker({
      services: [
        service("alpha", "alpha", alphaSchema, events),
        service("beta", "beta", betaSchema, events, new Error("port in use")),
      ],
      config,
    });
    const error = await started.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe("service beta failed to start: port in use");
    expect(events).toEqual(["alpha start", "beta start", "alpha stop"]);
    expect(await pingAnswers(nc)).toBe(0);
    expect(
      await nc.request("test.alpha.hello", undefined, { timeout: 300 }).catch(() => "none"),
    ).toBe("none");
  });

  it("answers with every service once started, and stops them all", async () => {
    const events: string[] = [];
    const worker = await startWorker({
      services: [
        service("alpha", "alpha", alphaSchema, events),
        service("beta", "beta", betaSchema, events),
      ],
      config: configOf(""),
    });
    try {
      expect(await pingAnswers(nc)).toBe(2);
    } finally {
      await worker.stop();
    }
    expect(events).toEqual(["alpha start", "beta start", "alpha stop", "beta stop"]);
  });
});
