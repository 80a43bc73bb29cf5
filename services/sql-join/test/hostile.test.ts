/**
 * Hostile statements against a real worker over the embedded demo data: each is answered with
 * a clear, bounded error, and another client's statement is served while it is being refused.
 */
import { collectSqlResult, EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { MAX_SQL_DEPTH } from "@entente/sql";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

/** How long a client waits for any answer. */
const DEADLINE_MS = 20_000;
/** Far above what the 600 KB statement takes to parse, even on a busy machine. */
const PARSE_TIMEOUT_MS = 4_000;
const MAX_SQL_NODES = 1_000;
/** Nested parentheses around a mistake: minutes of backtracking for the parser. */
const EXPONENTIAL = `SELECT ${"(".repeat(24)}1 +${")".repeat(24)}`;
const GOOD = "SELECT count(*) FROM users";

let nats: NatsServer;
let worker: Worker;
const connections: NatsConnection[] = [];
let hostile: EntenteClient;
let other: EntenteClient;

beforeAll(async () => {
  nats = await startNatsServer();
  // No sources: the embedded demo data.
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({
      text: `nats: { servers: ["${nats.url}"] }
log: { level: warn }
sqlJoin: { parseTimeoutMs: ${PARSE_TIMEOUT_MS}, maxSqlNodes: ${MAX_SQL_NODES} }
`,
      env: {},
    }),
  });
  // The hostile client speaks JSON, as `nats req` does.
  hostile = new EntenteClient(await connection(), { encoding: "json" });
  other = new EntenteClient(await connection());
}, 60_000);

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await worker?.stop();
  await nats?.stop();
});

async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  return nc;
}

async function sql(client: EntenteClient, statement: string, timeoutMs?: number) {
  const items = await client.collect(
    SUBJECTS.sql,
    { sql: statement, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
    { timeoutMs: DEADLINE_MS },
  );
  return collectSqlResult(items);
}

async function refusal(statement: string, timeoutMs?: number): Promise<EntenteError> {
  try {
    await sql(hostile, statement, timeoutMs);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected the statement to be refused");
}

/**
 * Sends the hostile statement, then the good one from the other client; the good one must be
 * answered (and, when `first`, before the hostile one is refused).
 */
async function refusedWhileServing(statement: string, timeoutMs?: number, first = true) {
  const settled: string[] = [];
  const refused = refusal(statement, timeoutMs).finally(() => settled.push("hostile"));
  const served = await sql(other, GOOD);
  settled.push("good");
  expect(served.rows).toEqual([[1000]]);
  const error = await refused;
  if (first) expect(settled).toEqual(["good", "hostile"]);
  return error;
}

describe("sql-join on hostile statements", () => {
  it("answers 600 KB of x with a syntax error quoting a bounded excerpt", async () => {
    const e = await refusedWhileServing("x".repeat(600_000));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.details).toEqual({ line: 1, column: 600_001 });
    expect(e.message).toMatch(
      /^syntax error at line 1, column 600001: unexpected end of input\n…x+\n +\^$/,
    );
    expect(e.message.length).toBeLessThan(300);
  });

  it("answers one NOT more than the limit with BAD_REQUEST, not INTERNAL", async () => {
    const e = await refusedWhileServing(
      `SELECT id FROM users WHERE ${"NOT ".repeat(MAX_SQL_DEPTH + 1)}true`,
      undefined,
      false,
    );
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message).toMatch(/^statement nested too deeply: more than 200 levels/);
  });

  it("ends a parse past sqlJoin.parseTimeoutMs with TOO_LARGE", async () => {
    const e = await refusedWhileServing(EXPONENTIAL);
    expect(e.code).toBe("TOO_LARGE");
    expect(e.message).toMatch(/more than 4000 ms to parse \(sqlJoin\.parseTimeoutMs\)/);
  });

  it("ends a parse at the statement's timeoutMs with DEADLINE_EXCEEDED", async () => {
    // The previous test's thread may still be reloading: the good statement can wait for it.
    const e = await refusedWhileServing(EXPONENTIAL, 300, false);
    expect(e.code).toBe("DEADLINE_EXCEEDED");
    // The stopped parse's thread was replaced: statements are parsed as before.
    expect((await sql(other, "SELECT count(*) FROM orders")).rows).toEqual([[5000]]);
  });

  it("refuses a statement over sqlJoin.maxSqlNodes with TOO_LARGE", async () => {
    const ids = Array.from({ length: MAX_SQL_NODES }, (_, i) => i).join(", ");
    const e = await refusedWhileServing(
      `SELECT count(*) FROM users WHERE id IN (${ids})`,
      undefined,
      false,
    );
    expect(e.code).toBe("TOO_LARGE");
    expect(e.message).toMatch(/more than 1000 syntax nodes .*sqlJoin\.maxSqlNodes/);
  });
});
