/**
 * Support for transaction-crashes.test.ts: the servers (NATS with JetStream, a PostgreSQL of
 * its own with prepared transactions, a MariaDB of its own), sql-join workers as separate
 * `entente serve sql-join` processes, and the checks those tests make of the databases and of
 * the decision log.
 *
 * The MariaDB server is private to this file on purpose: `XA RECOVER` lists the prepared XA
 * transactions of the whole server, so the recovery of any other deployment sharing the server
 * (another test file's worker) would see, and could roll back, the transactions these tests
 * leave prepared, and ours would see theirs.
 */
import { writeFile } from "node:fs/promises";
import { createServer, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Connector, createConnector } from "@entente/connectors";
import {
  bucketNameOf,
  collectSqlResult,
  DEFAULT_DEPLOYMENT,
  type SqlResult,
  SUBJECTS,
} from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startWorkerProcess } from "../../../test/e2e/workers.ts";
import { type DecisionRecord, LOG_ID_KEY } from "../src/writes/decision-log.ts";

export type CrashPoint = "prepared" | "decided" | "committing";

export type { DecisionRecord } from "../src/writes/decision-log.ts";

/** Runs `work`, retrying while the database is not reachable (a restart in progress). */
async function retrying<T>(what: string, work: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`${what} kept failing for ${timeoutMs} ms: ${String(err)}`);
      }
      await sleep(200);
    }
  }
}

async function rowsOf(connector: Connector, sql: string, params: unknown[] = []) {
  return retrying(sql, async () => {
    const result = await connector.query({ sql, params: params as never[] });
    const out: unknown[][] = [];
    for await (const batch of result.batches) out.push(...(batch as unknown[][]));
    return out;
  });
}

export class CrashLab {
  readonly nats: NatsServer;
  readonly pg: PostgresService;
  readonly maria: MariaDbService;
  readonly nc: NatsConnection;
  readonly client: EntenteClient;
  /** The test's own connections, to set up and check data. */
  readonly bank: Connector;
  readonly shop: Connector;
  readonly configFile: string;
  readonly dir: string;
  readonly #bankUrl: string;
  readonly #shopUrl: string;
  readonly #workers = new Set<ManagedProcess>();
  #kv: KV | undefined;
  #workerCount = 0;

  private constructor(fields: {
    nats: NatsServer;
    pg: PostgresService;
    maria: MariaDbService;
    nc: NatsConnection;
    bank: Connector;
    shop: Connector;
    configFile: string;
    dir: string;
    bankUrl: string;
    shopUrl: string;
  }) {
    this.nats = fields.nats;
    this.pg = fields.pg;
    this.maria = fields.maria;
    this.nc = fields.nc;
    this.client = new EntenteClient(fields.nc);
    this.bank = fields.bank;
    this.shop = fields.shop;
    this.configFile = fields.configFile;
    this.dir = fields.dir;
    this.#bankUrl = fields.bankUrl;
    this.#shopUrl = fields.shopUrl;
  }

  static async start(dir: string): Promise<CrashLab> {
    const [nats, pg, maria] = await Promise.all([
      startNatsServer(),
      postgres({ settings: { max_prepared_transactions: "100" } }),
      // A server of our own, never the shared one from ENTENTE_TEST_MARIADB_URL (see above).
      mariadb({
        discovery: { env: { ...process.env, ENTENTE_TEST_MARIADB_URL: undefined } },
        timeoutMs: 60_000,
      }),
    ]);
    const bankUrl = await pg.createDatabase();
    const shopUrl = await maria.createDatabase();
    const bank = await createConnector("setup_bank", { kind: "postgres", url: bankUrl });
    const shop = await createConnector("setup_shop", { kind: "mysql", url: shopUrl });
    for (const statement of [
      "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
      "CREATE TABLE pg_bank (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
    ]) {
      await bank.execute({ sql: statement, params: [] });
    }
    for (const statement of [
      "CREATE TABLE wallets (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
      "CREATE TABLE my_bank (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
    ]) {
      await shop.execute({ sql: statement, params: [] });
    }
    const configFile = join(dir, "sql-join.yaml");
    await writeFile(configFile, configYaml(nats.url, bankUrl, shopUrl));
    const nc = await connect({ servers: nats.url });
    return new CrashLab({ nats, pg, maria, nc, bank, shop, configFile, dir, bankUrl, shopUrl });
  }

  /** A configuration whose MariaDB source is reached through `port` (a proxy) instead. */
  async configThroughMariaDbPort(port: number): Promise<string> {
    const url = new URL(this.#shopUrl);
    url.port = String(port);
    const file = join(this.dir, `sql-join-via-${port}.yaml`);
    await writeFile(file, configYaml(this.nats.url, this.#bankUrl, url.toString()));
    return file;
  }

  get mariaDbTarget(): { host: string; port: number } {
    const url = new URL(this.#shopUrl);
    return { host: url.hostname, port: Number(url.port) };
  }

  /** An `entente serve sql-join` process on the shared configuration, armed to crash if asked. */
  async startWorker(
    crashAt?: CrashPoint,
    configFile = this.configFile,
    env: NodeJS.ProcessEnv = {},
  ): Promise<ManagedProcess> {
    const n = ++this.#workerCount;
    const worker = await startWorkerProcess({
      service: "sql-join",
      natsUrl: this.nats.url,
      name: `sql-join #${n}${crashAt ? ` (crashes at ${crashAt})` : ""}`,
      env: {
        ENTENTE_CONFIG: configFile,
        ...(crashAt ? { ENTENTE_TX_CRASH_AT: crashAt } : {}),
        ...env,
      },
    });
    this.#workers.add(worker);
    void worker.exited.then(() => this.#workers.delete(worker));
    return worker;
  }

  async stopWorkers(): Promise<void> {
    await Promise.all([...this.#workers].map((w) => w.kill("SIGKILL")));
  }

  /** A `statements` transaction; each statement a SQL text with its bound parameters. */
  async transaction(statements: [string, unknown[]][], timeoutMs: number): Promise<SqlResult> {
    const items = await this.client.collect(
      SUBJECTS.sql,
      { statements: statements.map(([sql, params]) => ({ sql, params })) },
      { timeoutMs },
    );
    return collectSqlResult(items);
  }

  pgRows(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return rowsOf(this.bank, sql, params);
  }

  myRows(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return rowsOf(this.shop, sql, params);
  }

  async pgExec(sql: string, params: unknown[] = []): Promise<void> {
    await retrying(sql, () => this.bank.execute({ sql, params: params as never[] }));
  }

  async myExec(sql: string, params: unknown[] = []): Promise<void> {
    await retrying(sql, () => this.shop.execute({ sql, params: params as never[] }));
  }

  /** The gids prepared at either database (PostgreSQL: this test's database only). */
  async prepared(): Promise<{ pg: string[]; maria: string[] }> {
    const pg = await this.pgRows(
      "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY gid",
    );
    const xa = await this.myRows("XA RECOVER");
    return {
      pg: pg.map((r) => String(r[0])),
      // data is gtrid followed by bqual; the connector uses gtrids only.
      maria: xa.map((r) => textOf(r[3]).slice(0, Number(r[1]))),
    };
  }

  async kv(): Promise<KV> {
    this.#kv ??= await new Kvm(jetstream(this.nc)).open(
      bucketNameOf(DEFAULT_DEPLOYMENT, "transactions"),
    );
    return this.#kv;
  }

  /** Every decision in the log, by transaction id. */
  async decisions(): Promise<Map<string, DecisionRecord>> {
    const kv = await this.kv();
    const out = new Map<string, DecisionRecord>();
    for await (const key of await kv.keys()) {
      if (key === LOG_ID_KEY) continue; // the bucket's own id, not a decision
      const entry = await kv.get(key);
      if (entry?.operation === "PUT" && entry.value.length > 0) {
        out.set(key, entry.json<DecisionRecord>());
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.stopWorkers();
    await this.nc?.close().catch(() => {});
    await this.bank?.close();
    await this.shop?.close();
    await this.nats?.stop();
    await this.pg?.stop?.();
    await this.maria?.stop?.();
  }
}

function configYaml(natsUrl: string, bankUrl: string, shopUrl: string): string {
  return `
nats: { servers: ["${natsUrl}"] }
sources:
  bank: { kind: postgres, url: "${bankUrl}" }
  shop: { kind: mysql, url: "${shopUrl}" }
writes:
  sources: [bank, shop]
  recoverAfterMs: 1500
  recoverEveryMs: 300
`;
}

export interface WithholdingProxy {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy that passes everything through until the client sends a chunk whose text
 * contains `trigger` (e.g. a MariaDB COM_QUERY packet carrying `XA COMMIT`). From then on,
 * `"request"`: that chunk and everything after it from the client never reach the server, as
 * if the client had died just before sending it; `"reply"`: the request reaches the server but
 * no answer reaches the client, as if it had died just before reading it. Content-based rather
 * than timed, so it holds however loaded the machine is.
 */
export async function startWithholdingProxy(
  target: { host: string; port: number },
  trigger: string,
  withhold: "request" | "reply",
): Promise<WithholdingProxy> {
  const open = new Set<() => void>();
  const server = createServer((client) => {
    const upstream = tcpConnect(target);
    let closed = false;
    let triggered = false;
    const close = () => {
      if (closed) return;
      closed = true;
      client.destroy();
      upstream.destroy();
      open.delete(close);
    };
    open.add(close);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (chunk: Buffer) => {
      triggered ||= chunk.toString("latin1").includes(trigger);
      if (closed || (triggered && withhold === "request")) return;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (closed || (triggered && withhold === "reply")) return;
      client.write(chunk);
    });
    // The client gone, the server's side is closed a moment later, so that a request passed on
    // just before is read by the server before it sees the connection end.
    const closeSoon = () => void setTimeout(close, 500);
    client.on("error", closeSoon);
    client.on("end", closeSoon);
    client.on("close", closeSoon);
    upstream.on("error", close);
    upstream.on("end", close);
    upstream.on("close", close);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const close of [...open]) close();
        server.close(() => resolve());
      }),
  };
}

function textOf(value: unknown): string {
  return value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : String(value);
}

/**
 * Polls `check` every 200 ms until it returns a value, at most `timeoutMs` (a bound on the
 * wait, not a timing assertion); then fails with `describe()` of the last state.
 */
export async function settle<T>(
  what: string,
  check: () => Promise<T | undefined>,
  describe: () => Promise<string>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms; last: ${await describe()}`);
    }
    await sleep(200);
  }
}
