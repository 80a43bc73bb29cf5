import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MariaDbService, mariadb, type PostgresService, postgres } from "@entente/testkit";
import { type Connector, createConnector, type Row, type SourceKind } from "../src/index.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";
process.env.ENTENTE_TEST_MARIADB_URL ??= "mysql://root@127.0.0.1:3306/test";

/** One connector per kind, each on its own fresh database. */
export interface Sources {
  all: Connector[];
  byKind: Record<SourceKind, Connector>;
  postgresUrl: string;
  mysqlUrl: string;
  tempDir: string;
  stop(): Promise<void>;
}

export async function openSources(): Promise<Sources> {
  const pgServer: PostgresService = await postgres();
  const mariaServer: MariaDbService = await mariadb();
  const postgresUrl = await pgServer.createDatabase();
  const mysqlUrl = await mariaServer.createDatabase();
  const tempDir = await mkdtemp(join(tmpdir(), "connectors-"));
  const pg = await createConnector("pg_test", { kind: "postgres", url: postgresUrl, poolSize: 4 });
  const my = await createConnector("orders_db", { kind: "mysql", url: mysqlUrl, poolSize: 4 });
  const duck = await createConnector("duck_test", { kind: "duckdb" });
  const all = [pg, my, duck];
  return {
    all,
    byKind: { postgres: pg, mysql: my, duckdb: duck },
    postgresUrl,
    mysqlUrl,
    tempDir,
    async stop() {
      await Promise.all(all.map((c) => c.close()));
      await Promise.all([pgServer.stop(), mariaServer.stop()]);
      await rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** Every row of a query, with the sizes of the batches it came in. */
export async function readAll(
  connector: Connector,
  sql: string,
  params: unknown[] = [],
  options: { batchRows?: number; signal?: AbortSignal } = {},
): Promise<{
  rows: Row[];
  batchSizes: number[];
  columns: Awaited<ReturnType<Connector["query"]>>["columns"];
}> {
  const result = await connector.query({ sql, params }, options);
  const rows: Row[] = [];
  const batchSizes: number[] = [];
  for await (const batch of result.batches) {
    batchSizes.push(batch.length);
    rows.push(...batch);
  }
  return { rows, batchSizes, columns: result.columns };
}

/** `$1, $2` or `?, ?` for `n` parameters in the connector's dialect. */
export function placeholders(connector: Connector, n: number): string {
  return Array.from({ length: n }, (_, i) => connector.dialect.placeholder(i + 1)).join(", ");
}
