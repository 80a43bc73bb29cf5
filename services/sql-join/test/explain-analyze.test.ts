/**
 * EXPLAIN ANALYZE over a real sql-join worker on the embedded demo sources: the statement runs,
 * and each operator's line says the rows and bytes it handed on and the time it took; the sources'
 * rows, bytes, time and statements follow.
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

async function sql(statement: string) {
  const items = await client.collect(SUBJECTS.sql, { sql: statement }, { timeoutMs: 20_000 });
  return collectSqlResult(items);
}

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: "log:\n  level: silent\n", env: { NATS_URL: nats.url } }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

const actualRows = (line: string) => Number(/actual rows=(\d+)/.exec(line)?.[1]);

it("runs the statement and gives each operator's actual rows, bytes and time", async () => {
  const join =
    "SELECT u.country, count(*) FROM users u JOIN orders o ON o.user_id = u.id WHERE u.country = 'US' GROUP BY u.country";
  const [[usUsers]] = (await sql("SELECT count(*) FROM users WHERE country = 'US'")).rows as [
    [number],
  ];
  const [[usOrders]] = (await sql(`SELECT count(*) FROM (${join}) j`)).rows as [[number]];
  const result = await sql(`EXPLAIN ANALYZE ${join}`);
  const lines = result.rows.map((r) => String(r[0]));
  const operators = lines.filter((l) => l.includes("(actual rows="));
  expect(operators.length).toBeGreaterThanOrEqual(3);
  for (const line of operators) expect(line).toMatch(/bytes=\d+, time=\d+\.\d ms\)$/);
  expect(actualRows(operators[0] as string)).toBe(1);
  const usersScan = lines.find((l) => /Scan users_db\..*users/.test(l)) as string;
  expect(actualRows(usersScan)).toBe(usUsers);
  expect(usOrders).toBeGreaterThan(0);
  expect(lines.some((l) => /^Result: 1 rows in [\d.]+ ms$/.test(l))).toBe(true);
  const sourceLines = lines.filter((l) => l.startsWith("Source "));
  expect(sourceLines.map((l) => l.split(":")[0]).sort()).toEqual([
    "Source orders_db",
    "Source users_db",
  ]);
  for (const l of sourceLines)
    expect(l).toMatch(/rows=[1-9]\d*, bytes=[1-9]\d*, time=.* ms, statements=[1-9]/);
});

it("sends an IN subquery's keys to the scan it filters, so the source reads only those rows", async () => {
  const statement =
    "SELECT count(*) FROM orders WHERE user_id IN (SELECT id FROM users WHERE country = 'US')";
  const [[matching]] = (await sql(statement)).rows as [[number]];
  const [[all]] = (await sql("SELECT count(*) FROM orders")).rows as [[number]];
  expect(matching).toBeLessThan(all);
  const lines = (await sql(`EXPLAIN ANALYZE ${statement}`)).rows.map((r) => String(r[0]));
  const ordersScan = lines.findIndex((l) => /Scan orders_db\..*orders/.test(l));
  expect(lines[ordersScan + 1]).toMatch(/user_id IN \(keys of subquery \$0, chunked\)/);
  expect(actualRows(lines[ordersScan] as string)).toBe(matching);
  expect(lines.find((l) => l.startsWith("Source orders_db"))).toMatch(
    new RegExp(`rows=${matching},`),
  );
});

it("leaves plain EXPLAIN without running anything", async () => {
  const lines = (await sql("EXPLAIN SELECT count(*) FROM users")).rows.map((r) => String(r[0]));
  expect(lines.some((l) => l.includes("actual rows="))).toBe(false);
  expect(lines.some((l) => l.startsWith("Result:"))).toBe(false);
});

it("runs a correlated EXISTS for the outer rows' keys only, the source sending one row per key it has", async () => {
  const statement =
    "SELECT count(*) FROM users u WHERE u.country = 'US' AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)";
  const usOrders = "FROM orders o JOIN users u ON u.id = o.user_id WHERE u.country = 'US'";
  const [[answer]] = (await sql(statement)).rows as [[number]];
  const [[buyers]] = (await sql(`SELECT count(DISTINCT o.user_id) ${usOrders}`)).rows as [[number]];
  const [[read]] = (await sql(`SELECT count(*) ${usOrders}`)).rows as [[number]];
  const [[all]] = (await sql("SELECT count(*) FROM orders")).rows as [[number]];
  expect(answer).toBe(buyers);
  expect(read).toBeLessThan(all);
  const lines = (await sql(`EXPLAIN ANALYZE ${statement}`)).rows.map((r) => String(r[0]));
  const whole = lines.findIndex((l) => l.startsWith("Subquery $0 (runs when the filter"));
  const reduced = lines.findIndex((l) => l.startsWith("Subquery $2 ($0 for the keys"));
  expect(whole).toBeGreaterThanOrEqual(0);
  expect(lines[whole + 1]).toMatch(/\(never run\)$/);
  // The key set is DISTINCT in the source, narrowed to the outer rows' keys: one row per buyer.
  const remote = lines.findIndex(
    (l, i) => i > reduced && /Remote orders_db: DISTINCT in its source/.test(l),
  );
  expect(lines.slice(remote, remote + 4).join("\n")).toMatch(
    /narrowed to: user_id IN \(keys of subquery \$\d+, chunked\)/,
  );
  expect(actualRows(lines[remote] as string)).toBe(buyers);
  expect(buyers).toBeLessThan(read);
});
