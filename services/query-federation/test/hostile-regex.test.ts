/**
 * A worker process over a DuckDB instance and a PostgreSQL instance, each holding a series
 * whose host is 28 × "a" + "!": the regex `(a+)+\d`, which takes a backtracking engine 2^28
 * steps on it, is answered within the query's deadline — by DuckDB's RE2 and by the worker's,
 * which applies the patterns PostgreSQL would read differently — while another client's query
 * is served; a pattern RE2 refuses is a BAD_REQUEST naming it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createConnector } from "@entente/connectors";
import { EntenteError, joinAnswerItems } from "@entente/protocol";
import type { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckdbStore, type Point } from "../src/index.ts";
import { BASE, SECOND } from "./generate.ts";
import { clientOf } from "./support.ts";

const HOSTILE_HOST = `${"a".repeat(28)}!`;
const HOSTILE_PATTERN = "(a+)+\\d";
/** How long a client waits for any answer: a worker that backtracks takes ~10 s. */
const REQUEST_DEADLINE_MS = 3_000;

const POINTS: Point[] = [
  { metric: "m", tags: { host: HOSTILE_HOST }, timestamp: BASE, value: 1 },
  { metric: "m", tags: { host: "ok" }, timestamp: BASE + SECOND, value: 2 },
];

describe("a regex that backtracks catastrophically", () => {
  let nats: NatsServer;
  let pg: PostgresService;
  let dir: string;
  let worker: ManagedProcess;
  const connections: NatsConnection[] = [];
  let hostile: EntenteClient;
  let other: EntenteClient;

  beforeAll(async () => {
    [nats, pg] = await Promise.all([startNatsServer(), postgres()]);
    dir = await mkdtemp(join(tmpdir(), "entente-hostile-regex-"));

    const duckPath = join(dir, "duck.duckdb");
    const duck = new DuckdbStore(
      "duck",
      await createConnector("duck", { kind: "duckdb", path: duckPath }),
    );
    await duck.ensureSchema();
    await duck.load(POINTS);
    await duck.close();

    const pgUrl = await pg.createDatabase();
    const setup = await createConnector("pg-setup", { kind: "postgres", url: pgUrl });
    await setup.execute({
      sql: "CREATE TABLE points (metric text, tags jsonb, time bigint, value float8)",
      params: [],
    });
    for (const p of POINTS) {
      await setup.execute({
        sql: "INSERT INTO points VALUES ($1, $2, $3, $4)",
        params: [p.metric, JSON.stringify(p.tags), String(p.timestamp), p.value],
      });
    }
    await setup.close();

    const configFile = join(dir, "entente.yaml");
    await writeFile(
      configFile,
      `nats: { servers: ["${nats.url}"] }
instances:
  duck: { kind: duckdb, path: ${duckPath} }
  pg: { kind: postgres, url: "${pgUrl}", table: points }
queryFederation:
  ingest: { enabled: false }
`,
    );
    worker = await startProcess({
      name: "query-federation worker",
      command: process.execPath,
      args: [
        "--conditions=@entente/source",
        resolve(import.meta.dirname, "worker-main.ts"),
        configFile,
      ],
      env: { ...process.env, ENTENTE_LOG_LEVEL: "info" },
      readyLine: /"msg":"service started"/,
      timeoutMs: 30_000,
    });
    for (const assign of [(c: EntenteClient) => (hostile = c), (c: EntenteClient) => (other = c)]) {
      const { nc, client } = await clientOf(nats.url, "json");
      connections.push(nc);
      assign(client);
    }
    // Both instances connected and warm, so the deadlines below measure the matching.
    expect((await query(other, { host: "ok" })).points).toHaveLength(2);
  }, 120_000);

  afterAll(async () => {
    for (const nc of connections) await nc.close();
    await worker?.stop("SIGTERM", 10_000);
    await Promise.allSettled([pg?.stop(), nats?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function query(client: EntenteClient, tags: Record<string, unknown>, timeoutMs?: number) {
    return client
      .collect(
        "entente.query",
        {
          metric: "m",
          start: String(BASE),
          end: String(BASE + 60n * SECOND),
          tags,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        },
        { timeoutMs: REQUEST_DEADLINE_MS },
      )
      .then(joinAnswerItems);
  }

  it("answers within the query's deadline and serves another client meanwhile", async () => {
    // The query, with its 300 ms; the next two check the answers, with more room.
    const asked = query(hostile, { host: { "=~": HOSTILE_PATTERN } }, 300);
    const excluded = query(hostile, { host: { "!~": HOSTILE_PATTERN } }, 2_000);
    const fromPg = query(hostile, { host: { "=~": HOSTILE_PATTERN }, __instance__: "pg" }, 2_000);
    const good = await query(other, { host: "ok" });
    expect(good.points.map((p) => p.tags.__instance__).sort()).toEqual(["duck", "pg"]);

    // Within 300 ms: nothing matches, and an instance that was not done in time is named.
    const answer = await asked;
    expect(answer.points).toEqual([]);
    for (const e of answer.partial?.errors ?? []) expect(e.code).toBe("DEADLINE_EXCEEDED");
    expect(await fromPg).toEqual({ points: [] });
    const rest = await excluded;
    expect(rest.partial).toBeUndefined();
    expect(rest.points.map((p) => `${p.tags.__instance__}:${p.tags.host}`).sort()).toEqual([
      `duck:${HOSTILE_HOST}`,
      "duck:ok",
      `pg:${HOSTILE_HOST}`,
      "pg:ok",
    ]);
  });

  it("refuses a backreference with a BAD_REQUEST naming the pattern and why", async () => {
    const err = await query(hostile, { host: { "=~": "(a+)\\1" } }, 300).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EntenteError);
    expect((err as EntenteError).code).toBe("BAD_REQUEST");
    expect((err as EntenteError).message).toContain('"(a+)\\\\1"');
    expect((err as EntenteError).message).toContain("invalid escape sequence");
  });
});
