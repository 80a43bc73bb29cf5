/**
 * The embedded default: demo `users` and `orders` in two separate in-memory DuckDB sources, so
 * the first cross-database join works with no configuration at all. The data is deterministic.
 */
import type { Connector, SourceConfig } from "@entente/connectors";

export const DEMO_SOURCES: Record<string, SourceConfig> = {
  users_db: { kind: "duckdb" },
  orders_db: { kind: "duckdb" },
};

const COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "CA", "AU", "ES"];

export async function loadDemoData(connectors: Map<string, Connector>): Promise<void> {
  const users = connectors.get("users_db");
  const orders = connectors.get("orders_db");
  if (!users || !orders) return;
  const countries = COUNTRIES.map((c) => `'${c}'`).join(", ");
  await users.execute({
    sql: `CREATE TABLE users AS
            SELECT CAST(i AS INTEGER) AS id,
                   'user_' || CAST(i AS VARCHAR) AS name,
                   [${countries}][1 + CAST(i % 10 AS INTEGER)] AS country
              FROM range(1, 1001) t(i)`,
    params: [],
  });
  await orders.execute({
    sql: `CREATE TABLE orders AS
            SELECT CAST(i AS INTEGER) AS id,
                   CAST((i * 7) % 1000 + 1 AS INTEGER) AS user_id,
                   CAST(((i * 37) % 10000) / 100.0 AS DECIMAL(10, 2)) AS total,
                   TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (i) HOUR AS created_at
              FROM range(1, 5001) t(i)`,
    params: [],
  });
}
