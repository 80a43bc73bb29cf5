/**
 * A worker over the embedded demo data (1,000 users and 5,000 orders in two DuckDB sources)
 * driven past its limits: a cross join that could never finish ends at its timeoutMs, a deep
 * join that holds more than its memory and then its disk budget ends with TOO_LARGE, and the
 * worker answers other statements while the heavy one runs and after it.
 */
import { collectSqlResult, EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

/** 5 × 10⁹ rows to count: no worker gets through them. */
const CROSS3 = "SELECT count(*) FROM users u CROSS JOIN orders o CROSS JOIN users u2";
/** Each order meets the 100 users of its user's country, and their five orders each. */
const DEEP =
  "SELECT a.id, b.id, p.id FROM users a JOIN orders o ON o.user_id = a.id " +
  "JOIN users b ON b.country = a.country JOIN orders p ON p.user_id = b.id ORDER BY 1, 2, 3";
const MAX_BUILD_ROWS = 20_000;
/** Past its memory a join spills to disk; this much, 2 MB, its 2.5 million rows overrun. */
const MAX_SPILL_BYTES = 2_000_000;

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;

async function sql(statement: string, timeoutMs?: number) {
  const items = await client.collect(
    SUBJECTS.sql,
    { sql: statement, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
    { timeoutMs: 30_000 },
  );
  return collectSqlResult(items);
}

async function failure(statement: string, timeoutMs?: number): Promise<EntenteError> {
  try {
    await sql(statement, timeoutMs);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error(`expected ${statement} to fail`);
}

beforeAll(async () => {
  nats = await startNatsServer();
  // No sources: the embedded demo data.
  const yaml = `
nats: { servers: ["${nats.url}"] }
sqlJoin:
  maxBuildRows: ${MAX_BUILD_ROWS}
  maxSpillBytes: ${MAX_SPILL_BYTES}
`;
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: yaml, env: {} }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

describe("sql-join past its limits", () => {
  it("ends a three-way cross join at its timeoutMs, answering others meanwhile", async () => {
    const settled: string[] = [];
    const heavy = failure(CROSS3, 3000).finally(() => settled.push("heavy"));
    // A second request while the cross join works: answered before the cross join ends.
    const small = await sql("SELECT count(*) FROM users");
    settled.push("small");
    expect(small.rows).toEqual([[1000]]);
    expect((await heavy).code).toBe("DEADLINE_EXCEEDED");
    expect(settled).toEqual(["small", "heavy"]);
    expect((await sql("SELECT count(*) FROM orders")).rows).toEqual([[5000]]);
  }, 20_000);

  it("ends a deep join holding too much with TOO_LARGE, then serves others", async () => {
    const err = await failure(DEEP);
    expect(err.code).toBe("TOO_LARGE");
    expect(err.message).toContain(`sqlJoin.maxSpillBytes ${MAX_SPILL_BYTES}`);
    const next = await sql(
      "SELECT u.country, count(*) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.country ORDER BY 1",
    );
    expect(next.rows).toHaveLength(10);
    expect(next.rows.reduce((n, r) => n + Number(r[1]), 0)).toBe(5000);
  }, 20_000);
});
