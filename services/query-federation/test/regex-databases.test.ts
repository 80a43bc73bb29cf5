/**
 * A tag regex selects the same series whichever database holds them: DuckDB, PostgreSQL and
 * MariaDB instances, each with the same awkward tag values, answer every pattern — the ones
 * sent to the database and the ones applied in the worker — exactly as RE2 in the worker does.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { type MariaDbService, mariadb, type PostgresService, postgres } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_COLUMNS,
  DuckdbStore,
  Federator,
  normalizeQuery,
  type Point,
  SqlInstance,
} from "../src/index.ts";
import { compileTagRegex } from "../src/tag-regex.ts";
import { BASE, SECOND } from "./generate.ts";

const HOSTS = [
  "web-1",
  "WEB-1",
  "web-",
  "db",
  "",
  "a\nb",
  "a\n",
  "ab",
  "a b",
  "é",
  "😀",
  "x.y",
  "xzy",
  "h7",
  "h77",
  "[z]",
  "a]",
  "-",
  "a|b",
  `${"a".repeat(28)}!`,
];

const PATTERNS = [
  "web-.*",
  ".*",
  "",
  "a.b",
  "a.",
  "[^a-z]+",
  "a|b|db",
  "x\\.y",
  "(a|x).(b|y)",
  "h[0-9]+",
  "h\\d+",
  "(?i)web-.*",
  ".",
  "..",
  "[a-]",
  "a\\]",
  "(a+)+\\d",
  "(a+)+!",
  "a$",
  "a?b",
  "é",
  ".*-.*",
  "[ -/]+",
  "\\w+",
  "a\\|b",
  "\\[z]",
];

function points(): Point[] {
  const all: Point[] = HOSTS.map((host, i) => ({
    metric: "m",
    tags: { host, n: String(i) },
    timestamp: BASE + BigInt(i) * SECOND,
    value: i,
  }));
  // A series without the tag: its value counts as "".
  all.push({ metric: "m", tags: { n: "none" }, timestamp: BASE, value: -1 });
  return all;
}

async function insert(connector: Connector, rows: Point[]): Promise<void> {
  const p = (i: number) => connector.dialect.placeholder(i);
  for (const point of rows) {
    await connector.execute({
      sql: `INSERT INTO points (metric, tags, time, value) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`,
      params: [point.metric, JSON.stringify(point.tags), String(point.timestamp), point.value],
    });
  }
}

describe("tag regexes over DuckDB, PostgreSQL and MariaDB", () => {
  let pg: PostgresService;
  let maria: MariaDbService;
  const connectors: Connector[] = [];
  let federator: Federator;

  beforeAll(async () => {
    [pg, maria] = await Promise.all([postgres(), mariadb()]);
    const duck = new DuckdbStore("duck", await createConnector("duck", { kind: "duckdb" }));
    await duck.ensureSchema();
    await duck.load(points());

    const pgUrl = await pg.createDatabase();
    const pgSetup = await createConnector("pg-setup", { kind: "postgres", url: pgUrl });
    connectors.push(pgSetup);
    await pgSetup.execute({
      sql: "CREATE TABLE points (metric text, tags jsonb, time bigint, value float8)",
      params: [],
    });
    await insert(pgSetup, points());

    const myUrl = await maria.createDatabase();
    const mySetup = await createConnector("my-setup", { kind: "mysql", url: myUrl });
    connectors.push(mySetup);
    await mySetup.execute({
      sql: "CREATE TABLE points (metric VARCHAR(64), tags JSON, time BIGINT, value DOUBLE)",
      params: [],
    });
    await insert(mySetup, points());

    const sqlInstance = async (name: string, kind: "postgres" | "mysql", url: string) =>
      new SqlInstance({
        name,
        kind,
        connector: await createConnector(name, { kind, url }),
        table: "points",
        columns: DEFAULT_COLUMNS,
      });
    federator = new Federator({
      instances: [
        duck,
        await sqlInstance("pg", "postgres", pgUrl),
        await sqlInstance("my", "mysql", myUrl),
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await federator?.close();
    for (const c of connectors) await c.close();
    await Promise.allSettled([pg?.stop(), maria?.stop()]);
  });

  /** The `n` tags of the series a matcher selects, per instance, in raw reads and aggregations. */
  async function selected(op: "=~" | "!~", pattern: string, instance: string) {
    const base = {
      metric: "m",
      start: String(BASE - SECOND),
      end: String(BASE + 100n * SECOND),
      tags: { host: { [op]: pattern }, __instance__: instance },
    };
    const raw = await federator.query(normalizeQuery(base));
    const counted = await federator.query(
      normalizeQuery({ ...base, aggregation: { function: "count", by: ["n"] } }),
    );
    expect(raw.partial).toBeUndefined();
    expect(counted.partial).toBeUndefined();
    return {
      raw: raw.points.map((p) => p.tags.n).sort(),
      aggregated: counted.points.map((p) => p.tags.n).sort(),
    };
  }

  for (const pattern of PATTERNS) {
    it(`selects as RE2 does: ${JSON.stringify(pattern)}`, async () => {
      const regex = compileTagRegex("host", pattern);
      const expected = points()
        .filter((p) => regex.test(p.tags.host ?? ""))
        .map((p) => p.tags.n as string)
        .sort();
      const complement = points()
        .map((p) => p.tags.n as string)
        .filter((n) => !expected.includes(n))
        .sort();
      for (const instance of ["duck", "pg", "my"]) {
        expect(await selected("=~", pattern, instance), `${instance} =~`).toEqual({
          raw: expected,
          aggregated: expected,
        });
        expect(await selected("!~", pattern, instance), `${instance} !~`).toEqual({
          raw: complement,
          aggregated: complement,
        });
      }
    });
  }
});
