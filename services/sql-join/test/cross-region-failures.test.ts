/**
 * A table spread over regions when a region fails: a region whose worker answers garbage, is
 * down (its router takes the request and nobody answers), or cannot be reached gives an error
 * that names it, by the deadline;
 * statements that do not need that region keep working.
 */
import { EntenteError, encodeId, SUBJECTS } from "@entente/protocol";
import { endpoint, type ServiceDefinition } from "@entente/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";
import { type Region, Regions } from "./cross-region-regions.ts";

const id = (region: number, seq: number) => String(encodeId(region, seq));

let regions: Regions;
let south: Region;

beforeAll(async () => {
  regions = await Regions.start();
  south = regions.region(3);
}, 90_000);

afterAll(async () => {
  await regions?.close();
});

async function failure(sql: string, timeoutMs = 5_000): Promise<EntenteError> {
  try {
    await regions.sql(sql, [], timeoutMs);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error(`expected ${sql} to fail`);
}

/** Statements that read regions 1 and 2 only answer as the reference does. */
async function othersStillAnswer(): Promise<void> {
  const sql = `SELECT count(*), sum(score), max(name) FROM people WHERE id < ${id(3, 0)}`;
  const got = await regions.sql(sql);
  const want = await regions.expected(sql);
  expect(got.rows.map((r) => r.map(String))).toEqual(want.map((r) => r.map(String)));
}

/** A worker in region 3's place whose `entente.sql` answers whatever `answer` holds. */
function garbageWorker(answer: { value: unknown }): ServiceDefinition {
  return {
    name: "sql-join",
    version: "0.0.0",
    description: "answers garbage",
    ...(sqlJoinService.sections ? { sections: sqlJoinService.sections } : {}),
    start: () => ({
      endpoints: [
        endpoint({
          name: "sql",
          subject: SUBJECTS.sql,
          description: "garbage",
          handler: () => answer.value,
        }),
      ],
    }),
  };
}

describe("a region that fails", () => {
  it("names a region that answers garbage", async () => {
    await regions.stopService(south, "sqlJoin");
    const answer: { value: unknown } = { value: "nonsense" };
    await regions.startService(south, "sqlJoin", garbageWorker(answer));
    try {
      const noColumns = await failure(`SELECT name FROM people WHERE id = ${id(3, 1)}`);
      expect(noColumns.code).toBe("BAD_RESPONSE");
      expect(noColumns.message).toMatch(/region 3 answered a result without columns/);

      answer.value = { columns: [{ name: "name", type: "text" }], rows: [["a", "b"]] };
      const wide = await failure(`SELECT name FROM people WHERE id = ${id(3, 1)}`);
      expect(wide.code).toBe("BAD_RESPONSE");
      expect(wide.message).toMatch(/region 3 answered a row of 2 values for 1 columns/);

      answer.value = { columns: [{ name: "name", type: "nonsense" }] };
      const typed = await failure("SELECT name FROM people");
      expect(typed.message).toMatch(/region 3 answered column name of unknown type nonsense/);
      await othersStillAnswer();
    } finally {
      await regions.stopService(south, "sqlJoin");
    }
  });

  it("names a region whose worker is down, by the statement's deadline", async () => {
    // Region 3's router takes the statement and finds nobody to give it to: silence.
    const down = await failure("SELECT city, count(*) FROM people GROUP BY city", 3_000);
    expect(down.code).toBe("DEADLINE_EXCEEDED");
    expect(down.message).toMatch(/^region 3: /);
    await othersStillAnswer();
    const explained = await regions.sql(`EXPLAIN SELECT name FROM people WHERE id = ${id(3, 1)}`);
    expect(explained.plan).toContain("region:3");
  }, 30_000);

  it("names a region whose router is down too", async () => {
    await regions.stopService(south, "router");
    const down = await failure(`SELECT name FROM people WHERE id IN (${id(3, 1)}, ${id(1, 1)})`);
    expect(down.message).toMatch(/region 3/);
    await othersStillAnswer();
  }, 30_000);
});
