/**
 * The round trips a 2PC transfer is made of, each timed on its own from this process (no
 * Entente): PostgreSQL's and MariaDB's statements on one connection each, and the decision log's
 * KV operations on the same NATS server. Shows which of them cost what a transfer takes.
 * The KV operations are spoken as the KV client speaks them to JetStream (a publish awaiting
 * its ack, with an expected last sequence for create; a last-by-subject get), on a bucket-like
 * stream of its own, since this package does not depend on the KV client.
 */
import { headers, type NatsConnection } from "@nats-io/nats-core";
import mysql from "mysql2/promise";
import pg from "pg";
import { percentile } from "../stats.ts";

export interface StepTiming {
  step: string;
  p50: number;
  p99: number;
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

/** Times each step of `rounds` transfers done by hand, in the order the coordinator does them. */
export async function probeSteps(
  bankUrl: string,
  shopUrl: string,
  nc: NatsConnection,
  accounts: number,
  rounds = 200,
): Promise<StepTiming[]> {
  const bank = new pg.Client({ connectionString: bankUrl });
  bank.on("error", () => {});
  await bank.connect();
  const shop = await mysql.createConnection({ uri: shopUrl });
  const kv = await probeBucket(nc);
  const times = new Map<string, number[]>();
  const time = async (step: string, work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    const list = times.get(step) ?? [];
    list.push(performance.now() - started);
    times.set(step, list);
  };
  const id = () => 1 + Math.floor(Math.random() * accounts);
  try {
    for (let i = 0; i < rounds; i++) {
      const gid = `probe.${process.pid}.${i}`;
      await time("pg BEGIN", () => bank.query("BEGIN"));
      await time("pg UPDATE", () =>
        bank.query("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [1, id()]),
      );
      await time("pg PREPARE TRANSACTION", () => bank.query(`PREPARE TRANSACTION '${gid}.0'`));
      await time("my XA START", () => shop.query(`XA START '${gid}.1'`));
      await time("my UPDATE", () =>
        shop.query("UPDATE accounts SET balance = balance + ? WHERE id = ?", [1, id()]),
      );
      await time("my XA END", () => shop.query(`XA END '${gid}.1'`));
      await time("my XA PREPARE", () => shop.query(`XA PREPARE '${gid}.1'`));
      const record = JSON.stringify({ decision: "commit", participants: [], decidedAtMs: 0 });
      await time("kv create (decide)", () => kv.create(gid, record));
      await time("pg COMMIT PREPARED", () => bank.query(`COMMIT PREPARED '${gid}.0'`));
      await time("my XA COMMIT", () => shop.query(`XA COMMIT '${gid}.1'`));
      await time("kv get (finish)", () => kv.get(gid));
      await time("kv put (finish)", () => kv.put(gid, record));
      // The same pair as local transactions, for comparison.
      await time("pg BEGIN/UPDATE/COMMIT", async () => {
        await bank.query("BEGIN");
        await bank.query("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [1, id()]);
        await bank.query("COMMIT");
      });
      await time("my START/UPDATE/COMMIT", async () => {
        await shop.query("START TRANSACTION");
        await shop.query("UPDATE accounts SET balance = balance + ? WHERE id = ?", [1, id()]);
        await shop.query("COMMIT");
      });
    }
  } finally {
    await kv.destroy();
    await bank.end().catch(() => {});
    await shop.end().catch(() => {});
  }
  return [...times].map(([step, xs]) => ({
    step,
    ...median(xs.slice(Math.min(20, xs.length / 5))),
  }));
}

/** A stream shaped like a KV bucket (history 1), and its create, get, put and removal. */
async function probeBucket(nc: NatsConnection) {
  const bucket = `entente_bench_probe_${process.pid}`;
  const stream = `KV_${bucket}`;
  const api = async (subject: string, body: unknown) => {
    const reply = (await nc.request(subject, JSON.stringify(body), { timeout: 10_000 })).json<{
      error?: { description: string };
    }>();
    if (reply.error) throw new Error(`${subject}: ${reply.error.description}`);
    return reply;
  };
  await api(`$JS.API.STREAM.CREATE.${stream}`, {
    name: stream,
    subjects: [`$KV.${bucket}.>`],
    max_msgs_per_subject: 1,
    discard: "new",
    allow_rollup_hdrs: true,
    deny_delete: true,
    allow_direct: true,
    storage: "file",
    num_replicas: 1,
  });
  const publish = async (key: string, data: string, expectNew: boolean) => {
    const h = headers();
    if (expectNew) h.set("Nats-Expected-Last-Subject-Sequence", "0");
    const ack = await nc.request(`$KV.${bucket}.${key}`, data, { timeout: 10_000, headers: h });
    const body = ack.json<{ error?: { description: string } }>();
    if (body.error) throw new Error(`KV ${key}: ${body.error.description}`);
  };
  return {
    create: (key: string, data: string) => publish(key, data, true),
    put: (key: string, data: string) => publish(key, data, false),
    get: (key: string) =>
      nc.request(`$JS.API.DIRECT.GET.${stream}.$KV.${bucket}.${key}`, "", { timeout: 10_000 }),
    destroy: () => api(`$JS.API.STREAM.DELETE.${stream}`, {}).catch(() => {}),
  };
}
