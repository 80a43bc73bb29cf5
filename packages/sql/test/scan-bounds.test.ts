import { describe, expect, it } from "vitest";
import { planSql, runPlan, type SourceRunner, type SourceStatement } from "../src/index.ts";
import { capabilities, memoryCatalog, pgDialect } from "./helpers.ts";

const catalog = memoryCatalog(
  [
    {
      source: "cold",
      name: "events",
      columns: [
        { name: "id", type: "bigint" },
        { name: "kind", type: "text" },
        { name: "day", type: "date" },
      ],
      rows: [],
    },
  ],
  [{ name: "cold", dialect: pgDialect, capabilities: capabilities() }],
);

/** The statements the planner sends, answered with no rows. */
async function sent(sql: string): Promise<SourceStatement[]> {
  const statements: SourceStatement[] = [];
  const runner: SourceRunner = {
    async query(_source, statement) {
      statements.push(statement);
      return (async function* () {})();
    },
  };
  const { plan } = planSql(sql, catalog);
  const { batches } = runPlan(plan, catalog, runner, new AbortController().signal, {});
  for await (const _ of batches);
  return statements;
}

describe("scan bounds", () => {
  it("say what the pushed predicates allow each column of the scanned table to hold", async () => {
    const [statement] = await sent(
      "SELECT id FROM events WHERE day >= '2025-01-01' AND day < '2025-02-01' AND id IN (3, 1) AND kind LIKE 'a%'",
    );
    expect(statement?.scan).toEqual({
      table: ["main", "events"],
      bounds: {
        day: {
          lo: { v: "2025-01-01", inclusive: true },
          hi: { v: "2025-02-01", inclusive: false },
        },
        id: { values: [3, 1] },
      },
    });
  });

  it("go with pushed aggregates too, and are empty when nothing bounds a column", async () => {
    const [grouped] = await sent(
      "SELECT kind, count(*) FROM events WHERE day = '2025-03-01' GROUP BY kind",
    );
    expect(grouped?.scan?.bounds).toEqual({ day: { values: ["2025-03-01"] } });
    const [all] = await sent("SELECT kind FROM events");
    expect(all?.scan).toEqual({ table: ["main", "events"], bounds: {} });
  });
});
