/**
 * The sagas service over real NATS with JetStream: sagas of NATS request steps against a
 * responder that records each delivery with its idempotency key. A saga failing at a step has
 * exactly the steps before it compensated in reverse; a worker killed mid-saga is replaced by
 * another that finishes it; an id started twice runs once; bad input is named.
 */
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  EntenteError,
  type SagaGetReply,
  type SagaListReply,
  type SagaStartReply,
  SUBJECTS,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import {
  eventually,
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
  uniqueName,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sagasService } from "../src/index.ts";
import { type Behaviour, Responder, requestSteps } from "./helpers.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const SCRIPT = resolve(import.meta.dirname, "worker-process.ts");

let nats: NatsServer;
let nc: NatsConnection;
let client: EntenteClient;
const workers: Worker[] = [];
const responders: Responder[] = [];

/** The configuration of a sagas worker: short leases and scans, so a takeover comes soon. */
function configText(url: string): string {
  return JSON.stringify({
    nats: { servers: [url] },
    sagas: {
      leaseMs: 1500,
      resumeEveryMs: 300,
      backoffMs: 50,
      maxBackoffMs: 200,
      maxAttempts: 3,
      stepTimeoutMs: 5000,
      definitions: {
        configured: {
          steps: [
            {
              name: "only",
              action: { kind: "request", subject: "test.configured.do.0" },
            },
          ],
        },
      },
    },
  });
}

async function startSagasWorker(): Promise<Worker> {
  const worker = await startWorker({
    services: [sagasService],
    config: loadConfig({ text: configText(nats.url), env: {} }),
  });
  workers.push(worker);
  return worker;
}

function responder(behave?: (what: string, repeat: number) => Behaviour): Responder {
  const r = new Responder(nc, `test.${uniqueName("r").replace(/[^A-Za-z0-9_-]/g, "_")}`, behave);
  responders.push(r);
  return r;
}

const saga = (body: Record<string, unknown>) =>
  client.request<SagaStartReply>(SUBJECTS.saga, { op: "start", ...body }, { timeoutMs: 20_000 });

const get = async (id: string) =>
  (await client.request<SagaGetReply>(SUBJECTS.saga, { op: "get", id })).saga;

async function failure(body: unknown): Promise<EntenteError> {
  try {
    await client.request(SUBJECTS.saga, body);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(body)} to fail`);
}

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
  await startSagasWorker();
}, 60_000);

afterAll(async () => {
  for (const r of responders) r.stop();
  for (const w of workers) await w.stop().catch(() => {});
  await nc?.close();
  await nats?.stop();
});

describe("sagas of NATS request steps", () => {
  it("runs every step in order, each with its idempotency key, and completes", async () => {
    const r = responder();
    const reply = await saga({ saga: requestSteps(r, 3), id: "all-good", wait: true });
    expect(reply.existing).toBe(false);
    expect(reply.saga.state).toBe("completed");
    expect(r.order()).toEqual(["do.0", "do.1", "do.2"]);
    expect(r.deliveries.map((d) => d.key)).toEqual([
      "all-good.0.action",
      "all-good.1.action",
      "all-good.2.action",
    ]);
    expect(reply.saga.steps.map((s) => [s.status, s.attempts])).toEqual([
      ["done", 1],
      ["done", 1],
      ["done", 1],
    ]);
    expect(reply.saga.steps[1]?.result).toEqual({ applied: "do.1", key: "all-good.1.action" });
  });

  it("compensates exactly the steps before the one that failed, in reverse", async () => {
    const r = responder((what) => (what === "do.3" ? { fail: "BAD_REQUEST" } : "ok"));
    const reply = await saga({ saga: requestSteps(r, 5), wait: true });
    expect(reply.saga.state).toBe("compensated");
    expect(r.order()).toEqual(["do.0", "do.1", "do.2", "do.3", "undo.2", "undo.1", "undo.0"]);
    const id = reply.saga.id;
    expect(r.deliveries.at(-1)?.key).toBe(`${id}.0.compensation`);
    expect(reply.saga.steps.map((s) => s.status)).toEqual([
      "compensated",
      "compensated",
      "compensated",
      "failed",
      "pending",
    ]);
    expect(reply.saga.error).toMatchObject({ code: "BAD_REQUEST", message: "do.3 refused" });
  });

  it("retries a step that may succeed on retry, with the same key, then goes on", async () => {
    const r = responder((what, repeat) =>
      what === "do.1" && repeat === 0 ? { fail: "UNAVAILABLE" } : "ok",
    );
    const reply = await saga({ saga: requestSteps(r, 2), id: "flaky", wait: true });
    expect(reply.saga.state).toBe("completed");
    expect(r.order()).toEqual(["do.0", "do.1", "do.1"]);
    expect(r.keyCounts().get("flaky.1.action")).toBe(2);
    expect(reply.saga.steps[1]?.attempts).toBe(2);
  });

  it("leaves a saga whose compensation keeps failing to an operator, saying why", async () => {
    const r = responder((what) =>
      what === "do.2"
        ? { fail: "BAD_REQUEST" }
        : what === "undo.1"
          ? { fail: "UNAVAILABLE" }
          : "ok",
    );
    const reply = await saga({ saga: requestSteps(r, 3), id: "stuck", wait: true });
    expect(reply.saga.state).toBe("needs_operator");
    // Three attempts at undoing step 1; step 0 is left as it is for the operator to decide.
    expect(r.order()).toEqual(["do.0", "do.1", "do.2", "undo.1", "undo.1", "undo.1"]);
    expect(reply.saga.error?.message).toMatch(/compensation of step 1 \(step-1\) failed/);
    const listed = await client.request<SagaListReply>(SUBJECTS.saga, {
      op: "list",
      state: "needs_operator",
    });
    expect(listed.sagas.map((s) => s.id)).toContain("stuck");
  });

  it("starts an id once: a second start returns the saga already there", async () => {
    const r = responder();
    const first = await saga({ saga: requestSteps(r, 2), id: "once", wait: true });
    const second = await saga({ saga: requestSteps(r, 2), id: "once", wait: true });
    expect(first.existing).toBe(false);
    expect(second.existing).toBe(true);
    expect(second.saga.state).toBe("completed");
    expect(second.saga.createdAt).toBe(first.saga.createdAt);
    expect(r.order()).toEqual(["do.0", "do.1"]);
  });

  it("answers a start that waits by its deadline, with the saga as it is then", async () => {
    const r = responder((what) => (what === "do.0" ? "hang" : "ok"));
    const steps = [
      { name: "held", action: { kind: "request", subject: r.subject("do.0"), timeoutMs: 300 } },
    ];
    const reply = await client.request<SagaStartReply>(
      SUBJECTS.saga,
      {
        op: "start",
        saga: { steps, retry: { backoffMs: 1_000, maxBackoffMs: 1_000 } },
        id: "slow",
        wait: true,
      },
      { timeoutMs: 1_500 },
    );
    expect(["running", "retrying"]).toContain(reply.saga.state);
    expect(reply.saga.steps[0]?.status).toBe("running");
    // The step's own budget runs out on every attempt: compensated (nothing to undo).
    await eventually(
      "the slow saga ended",
      async () => ((await get("slow")).state === "compensated" ? true : undefined),
      60_000,
    );
  }, 90_000);

  it("starts a saga defined in the configuration by name", async () => {
    const r = new Responder(nc, "test.configured");
    responders.push(r);
    const reply = await saga({ name: "configured", wait: true });
    expect(reply.saga).toMatchObject({ name: "configured", state: "completed" });
    expect(r.order()).toEqual(["do.0"]);
  });

  it("refuses bad input with BAD_REQUEST naming what was wrong", async () => {
    const unknown = await failure({ op: "start", name: "nope" });
    expect(unknown.code).toBe("BAD_REQUEST");
    expect(unknown.message).toMatch(/name: unknown saga "nope" \(configured: configured\)/);

    const malformed = await failure({
      op: "start",
      saga: { steps: [{ name: "x", action: { kind: "smtp", to: "a@b" } }] },
    });
    expect(malformed.code).toBe("BAD_REQUEST");
    expect(malformed.message).toContain("saga.steps.0.action");

    const badId = await failure({ op: "start", name: "configured", id: "has space" });
    expect(badId.code).toBe("BAD_REQUEST");
    expect(badId.message).toContain("id");

    const both = await failure({ op: "start" });
    expect(both.message).toMatch(/name: send name .* or saga/);

    const missing = await failure({ op: "get", id: "never-started" });
    expect(missing.code).toBe("NOT_FOUND");
  });
});

describe("a sagas worker killed mid-saga", () => {
  let configFile: string;
  const processes: ManagedProcess[] = [];

  beforeAll(async () => {
    configFile = join(tmpdir(), `${uniqueName("sagas")}.json`);
    await writeFile(configFile, configText(nats.url));
  });

  afterAll(async () => {
    for (const p of processes) if (p.running) await p.kill();
    if (configFile) await rm(configFile, { force: true });
  });

  it("is finished by another worker, which repeats the step under way with its key", async () => {
    // Only the process serves sagas while the saga starts, so the saga runs there.
    for (const w of workers.splice(0)) await w.stop();
    const first = await startProcess({
      name: "sagas worker",
      command: process.execPath,
      args: ["--conditions=@entente/source", SCRIPT, configFile],
      cwd: ROOT,
      env: { ...process.env, ENTENTE_LOG_LEVEL: "info" },
      readyLine: /worker ready/,
      timeoutMs: 30_000,
    });
    processes.push(first);
    // Step 2 is held the first time: the worker is in the middle of it when it dies.
    const r = responder((what, repeat) => (what === "do.2" && repeat === 0 ? "hang" : "ok"));
    const started = await saga({ saga: requestSteps(r, 4), id: "orphan" });
    expect(started.saga.owner).toContain(String(first.pid));
    await eventually("step 2 under way", () => (r.order().includes("do.2") ? true : undefined));
    await first.kill("SIGKILL");

    await startSagasWorker();
    const done = await eventually(
      "the saga finished by the other worker",
      async () => {
        const s = await get("orphan");
        return s.state === "completed" ? s : undefined;
      },
      30_000,
    );
    expect(done.steps.map((s) => s.status)).toEqual(["done", "done", "done", "done"]);
    expect(r.order()).toEqual(["do.0", "do.1", "do.2", "do.2", "do.3"]);
    // The repeat is visible to the receiver: the same key twice, every other key once.
    const counts = r.keyCounts();
    expect(counts.get("orphan.2.action")).toBe(2);
    expect([...counts.entries()].filter(([, n]) => n > 1).map(([k]) => k)).toEqual([
      "orphan.2.action",
    ]);
    expect(done.steps[2]?.attempts).toBe(2);
  }, 90_000);
});
