import type { SqlDialect } from "./types.ts";

/** PostgreSQL: `"name"` with embedded quotes doubled, `$1` placeholders. */
export const postgresDialect: SqlDialect = {
  kind: "postgres",
  quoteIdentifier: (name) => `"${name.replaceAll('"', '""')}"`,
  placeholder: (index) => `$${index}`,
};

/** MySQL/MariaDB: `` `name` `` with embedded backticks doubled, `?` placeholders. */
export const mysqlDialect: SqlDialect = {
  kind: "mysql",
  quoteIdentifier: (name) => `\`${name.replaceAll("`", "``")}\``,
  placeholder: () => "?",
};

/** DuckDB: PostgreSQL's quoting, `$1` placeholders (bound positionally). */
export const duckdbDialect: SqlDialect = {
  kind: "duckdb",
  quoteIdentifier: (name) => `"${name.replaceAll('"', '""')}"`,
  placeholder: (index) => `$${index}`,
};
