/**
 * A PostgreSQL server whose settings would change how values read: the connector's sessions
 * read them in full all the same.
 */
import { type PostgresService, postgres } from "@entente/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, createConnector } from "../src/index.ts";
import { readAll } from "./support.ts";

let server: PostgresService;
let connector: Connector;
let url: string;

beforeAll(async () => {
  server = await postgres({ settings: { extra_float_digits: "0" } });
  url = await server.createDatabase();
  connector = await createConnector("digits_db", { kind: "postgres", url, poolSize: 2 });
}, 120_000);

afterAll(async () => {
  await connector?.close();
  await server?.stop();
});

describe("a PostgreSQL server printing floats with extra_float_digits = 0", () => {
  it("reads reals and doubles as their shortest text, which reads back as the same float", async () => {
    // Another client of the same server reads six digits.
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    try {
      const { rows: printed } = await plain.query("SELECT CAST(1234.5677 AS real)::text AS r");
      expect(printed).toEqual([{ r: "1234.57" }]);
    } finally {
      await plain.end();
    }
    const { rows } = await readAll(
      connector,
      "SELECT CAST(1234.5677 AS real), CAST(0.1 AS double precision) + 0.2",
      [],
    );
    expect(rows).toEqual([[1234.5677, 0.30000000000000004]]);
  });
});
