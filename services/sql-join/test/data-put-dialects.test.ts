/**
 * The statements of `entente.data.put` and `entente.data.get` run against each kind of source:
 * PostgreSQL, MariaDB and DuckDB insert new ids and update only the named columns of existing
 * ones, and read rows by id in their own dialect.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { encodeId } from "@entente/protocol";
import { type MariaDbService, mariadb, type PostgresService, postgres } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localReader } from "../src/data-get.ts";
import { upsertStatement } from "../src/data-put.ts";

let pg: PostgresService;
let maria: MariaDbService;
const connectors: Connector[] = [];

beforeAll(async () => {
  [pg, maria] = await Promise.all([postgres(), mariadb()]);
}, 60_000);

afterAll(async () => {
  for (const c of connectors) await c.close();
  await maria?.stop();
  await pg?.stop();
});

async function source(kind: "postgres" | "mysql" | "duckdb"): Promise<Connector> {
  const connector =
    kind === "duckdb"
      ? await createConnector("duck", { kind: "duckdb" })
      : await createConnector(kind, {
          kind,
          url: await (kind === "postgres" ? pg : maria).createDatabase(),
        });
  connectors.push(connector);
  await connector.execute({
    sql: "CREATE TABLE people (id bigint PRIMARY KEY, name varchar(100) NOT NULL, score integer)",
    params: [],
  });
  return connector;
}

async function rows(connector: Connector): Promise<string[][]> {
  const result = await connector.query({
    sql: "SELECT id, name, score FROM people ORDER BY id",
    params: [],
  });
  const out: string[][] = [];
  for await (const batch of result.batches as AsyncIterable<unknown[][]>) {
    for (const row of batch) out.push(row.map((v) => (v === null ? "null" : String(v))));
  }
  return out;
}

describe.each(["postgres", "mysql", "duckdb"] as const)("upserts on %s", (kind) => {
  it("inserts new ids and updates only the named columns of existing ones", async () => {
    const connector = await source(kind);
    const [a, b] = [encodeId(1, 1), encodeId(1, 2)];
    const write = (columns: string[], values: unknown[][]) =>
      connector.execute({
        sql: upsertStatement(connector.dialect, ["people"], "id", columns, values.length),
        params: values.flat() as never[],
      });
    await write(
      ["id", "name", "score"],
      [
        [String(a), "Ada", 1],
        [String(b), "Grace", 2],
      ],
    );
    // Only the named columns change; score, left out, keeps its value.
    await write(["id", "name"], [[String(b), "Hopper"]]);
    expect(await rows(connector)).toEqual([
      [String(a), "Ada", "1"],
      [String(b), "Hopper", "2"],
    ]);
    // Read back by id, as a read of this region's ids does: an absent id has no row.
    const read = localReader(new Map([[connector.name, connector]]));
    const signal = new AbortController().signal;
    const byId = await read(
      { name: "people", table: `${connector.name}.people`, id: "id" },
      ["score", "name"],
      [b, encodeId(1, 3), a],
      { signal } as never,
    );
    expect(byId.get(String(a))?.map(String)).toEqual(["1", "Ada"]);
    expect(byId.get(String(b))?.map(String)).toEqual(["2", "Hopper"]);
    expect(byId.size).toBe(2);
  });
});
