/**
 * One `sources:` section for the whole worker: the SQL join and query federation read the same
 * PostgreSQL database through one connection pool, opened once.
 */
import { collectSqlResult, joinAnswerItems, SUBJECTS } from "@entente/protocol";
import { queryFederationService } from "@entente/query-federation";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import { type NatsServer, type PostgresService, postgres, startNatsServer } from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BASE_NS = 1_700_000_000_000_000_000n;

describe("sources shared by the services of a worker", () => {
  let nats: NatsServer;
  let server: PostgresService;
  let url: string;
  let admin: pg.Client;
  let worker: Worker;
  let client: EntenteClient;
  let closeClient: () => Promise<void>;

  beforeAll(async () => {
    [nats, server] = await Promise.all([startNatsServer({ jetstream: false }), postgres()]);
    url = await server.createDatabase();
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      `CREATE TABLE points (metric text, tags jsonb, "time" bigint, value double precision)`,
    );
    await admin.query(
      `INSERT INTO points SELECT 'load', '{"host":"h1"}', $1::bigint + i::bigint * 1000000000, i FROM generate_series(0, 9) i`,
      [String(BASE_NS)],
    );
    worker = await startWorker({
      services: [sqlJoinService, queryFederationService],
      config: loadConfig({
        text: [
          `nats: { servers: ["${nats.url}"] }`,
          "log: { level: warn }",
          `sources: { metrics: { kind: postgres, url: "${url}" } }`,
          "instances: { pg: { source: metrics, table: points } }",
        ].join("\n"),
        env: {},
      }),
    });
    const nc = await connect({ servers: nats.url, noAsyncTraces: true });
    client = new EntenteClient(nc);
    closeClient = () => nc.close();
  }, 60_000);

  afterAll(async () => {
    await closeClient?.();
    await worker?.stop();
    await admin?.end();
    await server?.stop();
    await nats?.stop();
  });

  /** The worker's sessions on the database, the test's own left out. */
  async function workerSessions(): Promise<number> {
    const { rows } = await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    return rows[0].n as number;
  }

  it("answers SQL and metric queries from the one source", async () => {
    const sql = collectSqlResult(
      await client.collect(SUBJECTS.sql, {
        sql: "SELECT count(*) AS n, sum(value) AS s FROM points",
      }),
    );
    expect(sql.rows).toEqual([[10, 45]]);

    const answer = joinAnswerItems(
      await client.collect(SUBJECTS.query, {
        metric: "load",
        start: String(BASE_NS),
        end: String(BASE_NS + 60_000_000_000n),
        aggregation: { function: "sum" },
      }),
    );
    expect(answer.points.map((p) => p.value)).toEqual([45]);
    expect(answer.partial).toBeUndefined();
  });

  it("holds one connection for both services when they take turns", async () => {
    for (let i = 0; i < 3; i++) {
      await client.collect(SUBJECTS.sql, { sql: "SELECT max(value) FROM points" });
      await client.collect(SUBJECTS.query, {
        metric: "load",
        start: String(BASE_NS),
        end: String(BASE_NS + 60_000_000_000n),
      });
    }
    // Two pools (one per service) would each keep an idle session.
    expect(await workerSessions()).toBe(1);
  });
});
