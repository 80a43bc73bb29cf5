/**
 * A LIKE pattern that costs a backtracking matcher n^k steps (k `%`s over n characters) is
 * answered within the statement's deadline, and another client is served meanwhile.
 */
import { collectSqlResult, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

/** C(60, 6) ≈ 5 × 10⁷ ways to place the six `a`s: seconds for a backtracking matcher. */
const HOSTILE = `SELECT '${"a".repeat(60)}' LIKE '%a%a%a%a%a%a%e'`;
/**
 * How long a client waits for any answer: well above what a linear match needs on a loaded
 * machine, well below the seconds a backtracking match of HOSTILE takes.
 */
const REQUEST_DEADLINE_MS = 4_000;
/** The hostile statement's own time budget, within the client's wait. */
const STATEMENT_TIMEOUT_MS = 3_000;

let nats: NatsServer;
let worker: Worker;
const connections: NatsConnection[] = [];

async function clientOf(url: string): Promise<EntenteClient> {
  const nc = await connect({ servers: url });
  connections.push(nc);
  return new EntenteClient(nc);
}

async function sql(client: EntenteClient, statement: string, timeoutMs?: number) {
  const items = await client.collect(
    SUBJECTS.sql,
    { sql: statement, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
    { timeoutMs: REQUEST_DEADLINE_MS },
  );
  return collectSqlResult(items);
}

beforeAll(async () => {
  nats = await startNatsServer();
  // No sources: the embedded demo data.
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({
      text: `nats: { servers: ["${nats.url}"] }\nlog: { level: warn }\n`,
      env: {},
    }),
  });
}, 60_000);

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await worker?.stop();
  await nats?.stop();
});

describe("LIKE on hostile input", () => {
  it("answers within the statement's deadline and serves another client meanwhile", async () => {
    const [hostile, other] = [await clientOf(nats.url), await clientOf(nats.url)];
    const answer = sql(hostile, HOSTILE, STATEMENT_TIMEOUT_MS);
    const served = await sql(other, "SELECT count(*) FROM users");
    expect(served.rows).toEqual([[1000]]);
    expect((await answer).rows).toEqual([[false]]);
    const ilike = await sql(
      hostile,
      HOSTILE.replace("LIKE", "ILIKE").replace("%e'", "%A'"),
      STATEMENT_TIMEOUT_MS,
    );
    expect(ilike.rows).toEqual([[true]]);
  });
});
