/**
 * The live catalog over a real DuckDB source: a query naming a new table reads the tables
 * again but keeps the statistics it has; the periodic refresh renews them all.
 */
import { type Connector, DuckdbConnector } from "@entente/connectors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveCatalog } from "../src/index.ts";

let duckdb: DuckdbConnector;
const statsAsked: string[] = [];

/** The real connector, noting which tables' statistics are asked for. */
function noting(connector: DuckdbConnector): Connector {
  return new Proxy(connector, {
    get(target, prop) {
      if (prop === "tableStats") {
        return (schema: string, table: string) => {
          statsAsked.push(table);
          return target.tableStats(schema, table);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  duckdb = await DuckdbConnector.open("lake", { kind: "duckdb" });
  await duckdb.execute({ sql: "CREATE TABLE first AS SELECT * FROM range(30) t(id)", params: [] });
});

afterAll(async () => {
  await duckdb?.close();
});

describe("live catalog", () => {
  it("reads statistics for new tables only when a query names an unknown one", async () => {
    const catalog = new LiveCatalog(new Map([["lake", noting(duckdb)]]), {});
    await catalog.refresh();
    expect(statsAsked).toEqual(["first"]);
    expect(catalog.current.resolve(["first"]).rowCount).toBe(30);

    await duckdb.execute({
      sql: "CREATE TABLE second AS SELECT * FROM range(5) t(id)",
      params: [],
    });
    const second = await catalog.withCatalog((c) => c.resolve(["second"]), 0);
    expect(second.rowCount).toBe(5);
    expect(statsAsked).toEqual(["first", "second"]);
    expect(catalog.current.resolve(["first"]).rowCount).toBe(30);

    await catalog.refresh();
    expect(statsAsked.slice(2).sort()).toEqual(["first", "second"]);
  });
});
