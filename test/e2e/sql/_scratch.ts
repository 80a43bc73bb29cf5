import { postgres } from "@entente/testkit";
import { compareResults, describeMismatch } from "./compare.ts";
import { postgresExecutor } from "./executors.ts";
import { differentialTables, loadPostgres } from "./fixtures.ts";
import { generateQueries } from "./generator.ts";

const server = await postgres();
const url = await server.createDatabase();
await loadPostgres(url, differentialTables());
const ex = await postgresExecutor(url);
const qs = generateQueries(Number(process.env.SEED ?? 1), 160);
const kinds = new Map<string, number>();
let errors = 0;
const sizes: number[] = [];
for (const q of qs) {
  kinds.set(q.kind.split("/").pop()!, (kinds.get(q.kind.split("/").pop()!) ?? 0) + 1);
  try {
    const a = await ex.run(q.sql);
    const b = await ex.run(q.sql);
    sizes.push(a.rows.length);
    const m = compareResults(a, b, { ordered: q.ordered });
    if (m) console.log(describeMismatch(q.sql, m));
  } catch (e) {
    errors++;
    console.log("ERR", q.kind, q.sql, String(e));
  }
}
console.log(kinds, "errors", errors, "sizes", sizes.join(","));
for (const q of qs.slice(0, 12)) console.log(q.kind, "|", q.sql);
await ex.close();
await server.stop();
