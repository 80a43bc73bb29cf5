/** The worker's sources: opened once, shared by every service, closed by the last one. */
import { describe, expect, it } from "vitest";
import { leaseSourcePool, leaseWorkerSources, SourcePool } from "../src/index.ts";

const section = (sources: unknown) => ({
  section: (key: string, schema: { parse(value: unknown): unknown }) =>
    // biome-ignore lint/suspicious/noExplicitAny: the reader's generic signature is not needed here
    schema.parse(key === "sources" ? sources : undefined) as any,
});

describe("SourcePool", () => {
  it("opens a source once however many ask, and closes it", async () => {
    const pool = new SourcePool({ a: { kind: "duckdb" } });
    const [first, second] = await Promise.all([pool.get("a"), pool.get("a")]);
    expect(first).toBe(second);
    await first.execute({ sql: "CREATE TABLE t AS SELECT 1 AS x", params: [] });
    expect(await pool.get("a")).toBe(first);
    await pool.close();
    await expect(pool.get("a")).rejects.toThrow(/closed/);
  });

  it("names the known sources when asked for another", async () => {
    const pool = new SourcePool({ a: { kind: "duckdb" }, b: { kind: "duckdb" } });
    await expect(pool.get("c")).rejects.toThrow('unknown source "c" (known: a, b)');
    await pool.close();
  });

  it("runs a seed once per key", async () => {
    const pool = new SourcePool({});
    let runs = 0;
    const seed = async () => {
      runs += 1;
    };
    await Promise.all([pool.once("demo", seed), pool.once("demo", seed)]);
    await pool.once("demo", seed);
    expect(runs).toBe(1);
    await pool.close();
  });

  it("takes a service's own source, and refuses one name with two settings", async () => {
    const pool = new SourcePool({ a: { kind: "duckdb" } });
    pool.define("b", { kind: "duckdb" });
    pool.define("a", { kind: "duckdb" });
    expect(pool.names()).toEqual(["a", "b"]);
    expect(() => pool.define("a", { kind: "duckdb", path: "/tmp/x.duckdb" })).toThrow(
      /source "a" is declared twice with different settings/,
    );
    await pool.close();
  });
});

describe("leases", () => {
  it("give the services of one worker one pool, closed when the last lets go", async () => {
    const config = section({ a: { kind: "duckdb" } });
    const sql = leaseWorkerSources(config);
    const query = leaseWorkerSources(config);
    expect(query.pool).toBe(sql.pool);
    expect(sql.declared).toEqual(["a"]);
    const connector = await sql.pool.get("a");
    await sql.release();
    await sql.release();
    // Still open for the other service.
    await connector.execute({ sql: "SELECT 1", params: [] });
    await query.release();
    await expect(sql.pool.get("a")).rejects.toThrow(/closed/);
    // The next worker on the same configuration starts a new pool.
    const next = leaseSourcePool(config, {});
    expect(next.pool).not.toBe(sql.pool);
    await next.release();
  });

  it("say when there is no sources section", async () => {
    const lease = leaseWorkerSources(section(undefined));
    expect(lease.declared).toBeUndefined();
    expect(lease.pool.names()).toEqual([]);
    await lease.release();
  });
});
