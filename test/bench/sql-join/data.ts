/**
 * The seed workload's data, generated inside the databases (generate_series in PostgreSQL, the
 * SEQUENCE engine in MariaDB) so loading takes seconds, and left in place between runs: a marker
 * table records what was loaded, and a database whose marker matches is not loaded again.
 *
 * users:  200,000 rows, id 1..200000, country = COUNTRIES[(id - 1) % 20] (10,000 per country)
 * orders: 2,000,000 rows, user_id = (id - 1) % 200000 + 1 (10 per user), so the users of one
 *         country have exactly 100,000 orders.
 */
import mysql from "mysql2/promise";
import { databaseUrl, withPg } from "../pg.ts";

export const USERS = 200_000;
export const ORDERS = 2_000_000;
export const COUNTRIES = [
  "US",
  "CA",
  "MX",
  "BR",
  "AR",
  "GB",
  "FR",
  "DE",
  "ES",
  "IT",
  "NL",
  "SE",
  "PL",
  "JP",
  "CN",
  "IN",
  "KR",
  "AU",
  "ZA",
  "NG",
];
/** Rows the seed query returns: one country's users times their orders. */
export const EXPECTED_ROWS = (USERS / COUNTRIES.length) * (ORDERS / USERS);

const SPEC = `users=${USERS};orders=${ORDERS};countries=${COUNTRIES.length};v1`;
const MARKER = "entente_bench_marker";

const countryArray = `ARRAY[${COUNTRIES.map((c) => `'${c}'`).join(", ")}]`;

const PG_USERS = [
  "DROP TABLE IF EXISTS users",
  "CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, country text NOT NULL)",
  `INSERT INTO users SELECT g, 'user ' || g, (${countryArray})[((g - 1) % ${COUNTRIES.length}) + 1] FROM generate_series(1, ${USERS}) g`,
  "CREATE INDEX users_country ON users (country)",
  "ANALYZE users",
];

// Totals are a deterministic scramble of the id, in cents; timestamps spread over a year.
const PG_ORDERS = [
  "DROP TABLE IF EXISTS orders",
  "CREATE TABLE orders (id integer PRIMARY KEY, user_id integer NOT NULL, total decimal(10,2) NOT NULL, created_at timestamp NOT NULL)",
  `INSERT INTO orders SELECT g, ((g - 1) % ${USERS}) + 1, ((g::bigint * 7919) % 100000) / 100.0, timestamp '2024-01-01' + (g % 31536000) * interval '1 second' FROM generate_series(1, ${ORDERS}) g`,
  "CREATE INDEX orders_user_id ON orders (user_id)",
  "ANALYZE orders",
];

const MY_ORDERS = [
  "DROP TABLE IF EXISTS orders",
  "CREATE TABLE orders (id INT PRIMARY KEY, user_id INT NOT NULL, total DECIMAL(10,2) NOT NULL, created_at DATETIME NOT NULL) ENGINE=InnoDB",
  `INSERT INTO orders SELECT seq, ((seq - 1) % ${USERS}) + 1, ((seq * 7919) % 100000) / 100, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq % 31536000) SECOND FROM seq_1_to_${ORDERS}`,
  "CREATE INDEX orders_user_id ON orders (user_id)",
  "ANALYZE TABLE orders",
];

/** Creates the PostgreSQL database if needed and loads `tables` unless the marker matches. */
export async function preparePostgres(
  serverUrl: string,
  name: string,
  tables: ("users" | "orders")[],
  log: (line: string) => void,
): Promise<string> {
  const exists = await withPg(serverUrl, async (c) => {
    const found = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await c.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
    return found.rowCount !== 0;
  });
  const url = databaseUrl(serverUrl, name);
  const spec = `${SPEC};${tables.join(",")}`;
  await withPg(url, async (c) => {
    if (exists) {
      const marker = await c
        .query(`SELECT spec FROM ${MARKER}`)
        .then((r) => r.rows[0]?.spec as string | undefined)
        .catch(() => undefined);
      if (marker === spec) {
        log(`PostgreSQL ${name}: data present`);
        return;
      }
    }
    const started = performance.now();
    await c.query(`DROP TABLE IF EXISTS ${MARKER}`);
    for (const table of tables) {
      for (const sql of table === "users" ? PG_USERS : PG_ORDERS) await c.query(sql);
    }
    await c.query(`CREATE TABLE ${MARKER} (spec text NOT NULL)`);
    await c.query(`INSERT INTO ${MARKER} VALUES ($1)`, [spec]);
    log(`PostgreSQL ${name}: loaded ${tables.join(", ")} in ${seconds(started)}`);
  });
  return url;
}

/** Creates the MariaDB database if needed and loads `orders` unless the marker matches. */
export async function prepareMariaDb(
  serverUrl: string,
  name: string,
  log: (line: string) => void,
): Promise<string> {
  const server = await mysql.createConnection({ uri: databaseUrl(serverUrl, "") });
  try {
    await server.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
  } finally {
    await server.end();
  }
  const url = databaseUrl(serverUrl, name);
  const c = await mysql.createConnection({ uri: url });
  try {
    const marker = await c
      .query(`SELECT spec FROM ${MARKER}`)
      .then(([rows]) => (rows as { spec: string }[])[0]?.spec)
      .catch(() => undefined);
    if (marker === SPEC) {
      log(`MariaDB ${name}: data present`);
      return url;
    }
    const started = performance.now();
    await c.query(`DROP TABLE IF EXISTS ${MARKER}`);
    for (const sql of MY_ORDERS) await c.query(sql);
    await c.query(`CREATE TABLE ${MARKER} (spec VARCHAR(200) NOT NULL)`);
    await c.query(`INSERT INTO ${MARKER} VALUES (?)`, [SPEC]);
    log(`MariaDB ${name}: loaded orders in ${seconds(started)}`);
    return url;
  } finally {
    await c.end();
  }
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
