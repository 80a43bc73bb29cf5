/**
 * The mysql_fdw baseline: PostgreSQL reaching the MariaDB orders table through a foreign table,
 * joined with its local users table. Installs the extension with scripts/bench-sql-setup.sh
 * when it is missing; says why when that is not possible.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import pg from "pg";

const SETUP = resolve(import.meta.dirname, "../../../scripts/bench-sql-setup.sh");

/** PostgreSQL's major version as the server reports it, e.g. 15. */
async function serverMajor(client: pg.Client): Promise<number> {
  const result = await client.query("SHOW server_version_num");
  return Math.floor(Number(result.rows[0].server_version_num) / 10_000);
}

function controlFile(major: number): string {
  return `/usr/share/postgresql/${major}/extension/mysql_fdw.control`;
}

/**
 * Installs mysql_fdw with scripts/bench-sql-setup.sh when the server at `pgUrl` does not offer
 * it. Resolves to undefined when it is there, or to the reason it could not be installed.
 */
export async function installMysqlFdw(
  client: pg.Client,
  pgUrl: string,
  log: (line: string) => void,
): Promise<string | undefined> {
  const available = await client.query(
    "SELECT 1 FROM pg_available_extensions WHERE name = 'mysql_fdw'",
  );
  if (available.rowCount !== 0) return undefined;
  const major = await serverMajor(client);
  const local = existsSync("/usr/share/postgresql") ? readdirSync("/usr/share/postgresql") : [];
  if (!local.includes(String(major))) {
    return `mysql_fdw is not available to the PostgreSQL server at ${new URL(pgUrl).host} and that server is not a local Debian installation (run ${SETUP} where it runs)`;
  }
  log(`mysql_fdw: not installed; running ${SETUP} (PostgreSQL ${major})`);
  const setup = spawnSync("bash", [SETUP], {
    env: { ...process.env, PG_MAJOR: String(major) },
    encoding: "utf8",
  });
  if (setup.status !== 0 || !existsSync(controlFile(major))) {
    const output = `${setup.stdout ?? ""}${setup.stderr ?? ""}`.trim().split("\n").slice(-5);
    return `installing mysql_fdw failed (${SETUP} exited ${setup.status}): ${output.join(" / ")}`;
  }
  log(`mysql_fdw: ${setup.stdout.trim().split("\n").at(-1)}`);
  return undefined;
}

/**
 * Makes `orders_mysql` a foreign table over `mysqlDatabase`.orders in the database at `pgUrl`.
 * Resolves to undefined when ready, or to the reason it could not be set up.
 */
export async function setUpMysqlFdw(
  pgUrl: string,
  mariaUrl: string,
  mysqlDatabase: string,
  log: (line: string) => void,
): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: pgUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    const missing = await installMysqlFdw(client, pgUrl, log);
    if (missing) return missing;
    const maria = new URL(mariaUrl);
    const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
    await client.query("CREATE EXTENSION IF NOT EXISTS mysql_fdw");
    await client.query("DROP SERVER IF EXISTS entente_bench_mariadb CASCADE");
    await client.query(
      `CREATE SERVER entente_bench_mariadb FOREIGN DATA WRAPPER mysql_fdw OPTIONS (host ${literal(maria.hostname)}, port ${literal(maria.port || "3306")})`,
    );
    await client.query(
      `CREATE USER MAPPING FOR CURRENT_USER SERVER entente_bench_mariadb OPTIONS (username ${literal(decodeURIComponent(maria.username) || "root")}, password ${literal(decodeURIComponent(maria.password))})`,
    );
    await client.query(
      "CREATE FOREIGN TABLE orders_mysql (id integer, user_id integer, total decimal(10,2), created_at timestamp) " +
        `SERVER entente_bench_mariadb OPTIONS (dbname ${literal(mysqlDatabase)}, table_name 'orders')`,
    );
    // A round trip now, so a connection problem is reported here rather than as a timing.
    await client.query("SELECT id FROM orders_mysql WHERE id = 1");
    return undefined;
  } catch (error) {
    return `setting up mysql_fdw failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    await client.end();
  }
}
