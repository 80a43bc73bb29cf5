/**
 * Views from the configuration, over a real sql-join worker on the embedded demo sources: a view
 * reads like its SELECT, views build on views, a CTE of the same name wins inside its statement,
 * and a view that reaches itself is refused when used (a view that does not parse stops the
 * start: packages/sql/test/views.test.ts).
 */
import { collectSqlResult, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;

const VIEWS = `
sqlJoin:
  views:
    us_users: "SELECT id, name FROM users WHERE country = 'US'"
    us_spend: "SELECT u.name, sum(o.total) AS spent FROM us_users u JOIN orders o ON o.user_id = u.id GROUP BY u.name"
    loop_a: "SELECT * FROM loop_b"
    loop_b: "SELECT * FROM loop_a"
`;

const configText = (extra: string) => `log:\n  level: silent\n${extra}`;

async function sql(statement: string) {
  const items = await client.collect(SUBJECTS.sql, { sql: statement }, { timeoutMs: 20_000 });
  return collectSqlResult(items).rows;
}

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: configText(VIEWS), env: { NATS_URL: nats.url } }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

it("reads a view like the SELECT it names", async () => {
  expect(await sql("SELECT count(*), min(id) FROM us_users")).toEqual(
    await sql("SELECT count(*), min(id) FROM users WHERE country = 'US'"),
  );
});

it("builds views on views and joins them with tables", async () => {
  const direct = await sql(
    "SELECT u.name, sum(o.total) FROM users u JOIN orders o ON o.user_id = u.id WHERE u.country = 'US' GROUP BY u.name ORDER BY 1",
  );
  expect(await sql("SELECT name, spent FROM us_spend ORDER BY 1")).toEqual(direct);
  expect(direct.length).toBeGreaterThan(0);
});

it("lets a CTE of the same name stand for the view within its statement", async () => {
  expect(await sql("WITH us_users AS (SELECT 1 AS id) SELECT count(*) FROM us_users")).toEqual([
    [1],
  ]);
});

it("refuses a view that reaches itself, naming it", async () => {
  await expect(sql("SELECT * FROM loop_a")).rejects.toMatchObject({
    code: "BAD_REQUEST",
    message: expect.stringMatching(/view "loop_a" refers to itself/),
  });
});
