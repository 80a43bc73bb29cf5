/**
 * `entente serve` runs all its services or none: a configuration with mistakes is refused as a
 * whole (every mistake printed, nothing started), a service that cannot start (its HTTP port
 * taken) stops those that did, and the process exits non-zero.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { knownServiceSections, loadServices, SERVICE_SECTIONS } from "@entente/server";
import {
  type ExitStatus,
  freePort,
  type ManagedProcess,
  type NatsServer,
  pingAnswers,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "packages/server/src/bin.ts");

describe("entente serve starts all its services or none", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
    dir = await mkdtemp(join(tmpdir(), "entente-worker-start-"));
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function serve(
    name: string,
    yaml: string,
    service = "all",
    readyLine?: RegExp,
  ): Promise<ManagedProcess> {
    const file = join(dir, `${name}.yaml`);
    return writeFile(file, yaml).then(() =>
      startProcess({
        name: `entente serve ${service} (${name})`,
        command: process.execPath,
        args: ["--conditions=@entente/source", BIN, "-c", file, "serve", service],
        cwd: ROOT,
        env: { ...process.env, NATS_URL: nats.url },
        ...(readyLine ? { readyLine } : {}),
      }),
    );
  }

  /** Pings the services until the process ends; the number of answers seen meanwhile. */
  async function answersUntilExit(
    worker: ManagedProcess,
  ): Promise<{ status: ExitStatus; answers: number }> {
    let answers = 0;
    let done = false;
    const exited = worker.exited.then((status) => {
      done = true;
      return status;
    });
    while (!done) {
      answers += await pingAnswers(nc);
      await sleep(20);
    }
    return { status: await exited, answers };
  }

  it("refuses mistakes in several services' sections at once, starting none", async () => {
    const worker = await serve(
      "mistakes",
      [
        "log: { level: info }",
        "sources:",
        "  crm:",
        "    kind: oracle",
        "sqlJoin:",
        '  batchRows: "x"',
        "instances:",
        "  edge: 5",
        "bridge:",
        "  links: 7",
        "",
      ].join("\n"),
    );
    const { status, answers } = await answersUntilExit(worker);
    const output = worker.logs.lines().join("\n");
    expect(status.code, output).toBe(1);
    expect(output).toContain("entente: invalid configuration:");
    expect(output).toMatch(/mistakes\.yaml:4:\d+: sources\.crm\.kind: /);
    expect(output).toMatch(/mistakes\.yaml:6:\d+: sqlJoin\.batchRows: /);
    expect(output).toMatch(/mistakes\.yaml:8:\d+: instances\.edge: /);
    expect(output).toMatch(/mistakes\.yaml:10:\d+: bridge\.links: /);
    expect(output).not.toContain('"msg":"service started"');
    expect(output).not.toContain('"msg":"connected to NATS"');
    expect(answers).toBe(0);
  });

  it("refuses an unknown top-level key, naming it", async () => {
    const worker = await serve("typo", "regoin:\n  name: eu\n", "diagnostics");
    const status = await worker.exited;
    const output = worker.logs.lines().join("\n");
    expect(status.code, output).toBe(1);
    expect(output).toMatch(/typo\.yaml:\d+:\d+: regoin: unknown section/);
    expect(output).not.toContain('"msg":"service started"');
  });

  it("accepts the sections of services another worker runs, and says when it is ready", async () => {
    const worker = await serve(
      "shared",
      "sqlJoin: { batchRows: 500 }\nbridge: {}\ninstances: {}\n",
      "diagnostics",
      /"msg":"worker ready"/,
    );
    try {
      const ready = worker.logs.lines().find((line) => line.includes('"msg":"worker ready"'));
      expect(JSON.parse((ready ?? "{}").slice((ready ?? "{").indexOf("{"))).services).toEqual([
        "diagnostics",
      ]);
      expect(await pingAnswers(nc)).toBe(1);
    } finally {
      await worker.stop("SIGTERM");
    }
  });

  it("stops what started and exits non-zero when the HTTP port is taken", async () => {
    const taken: Server = createServer();
    await new Promise<void>((ok) => taken.listen(0, "127.0.0.1", ok));
    const { port } = taken.address() as { port: number };
    try {
      const worker = await serve(
        "port",
        `log: { level: info }\nqueryFederation:\n  http: { port: ${port}, host: 127.0.0.1 }\n`,
      );
      const status = await worker.exited;
      const output = worker.logs.lines().join("\n");
      expect(status.code, output).toBe(1);
      expect(output).toContain("entente: service query-federation failed to start:");
      expect(output).toContain("EADDRINUSE");
      // diagnostics started before query-federation, and was stopped again.
      expect(output).toMatch(/"component":"diagnostics".*"msg":"service started"/);
      expect(output).toMatch(/"component":"diagnostics".*"msg":"service stopped"/);
      expect(output).not.toContain('"msg":"worker ready"');
      expect(await pingAnswers(nc)).toBe(0);
    } finally {
      await new Promise((ok) => taken.close(ok));
    }
  });

  it("says it waits for an unreachable NATS, and starts once NATS is there", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const file = join(dir, "waiting.yaml");
    await writeFile(file, `nats: { servers: ["${url}"], reconnectTimeWaitMs: 100 }\n`);
    const worker = await startProcess({
      name: "entente serve diagnostics (no NATS yet)",
      command: process.execPath,
      args: ["--conditions=@entente/source", BIN, "-c", file, "serve", "diagnostics"],
      cwd: ROOT,
      env: process.env,
      readyLine: /cannot reach NATS at/,
    });
    let late: NatsServer | undefined;
    try {
      const output = () => worker.logs.lines().join("\n");
      expect(output()).toContain(`connecting to NATS at ${url}`);
      expect(output()).toMatch(/cannot reach NATS at .*connection refused/);
      late = await startNatsServer({ port, jetstream: false });
      const bound = Date.now() + 30_000;
      while (!output().includes('"msg":"worker ready"') && Date.now() < bound) await sleep(50);
      expect(output()).toMatch(/"msg":"connected to NATS/);
      expect(output()).toContain('"msg":"worker ready"');
    } finally {
      await worker.stop("SIGTERM");
      await late?.stop();
    }
  });

  it("lists every service's sections as the services declare them", async () => {
    for (const [name, sections] of Object.entries(SERVICE_SECTIONS)) {
      const [definition] = await loadServices(name);
      expect(Object.keys(definition?.sections ?? {}).sort(), name).toEqual([...sections].sort());
    }
    expect(knownServiceSections().sort()).toEqual([
      "bridge",
      "dataChanges",
      "dataReplication",
      "graphql",
      "instances",
      "logicalTables",
      "materialize",
      "queryFederation",
      "regionRouter",
      "sagas",
      "sources",
      "sqlJoin",
      "tables",
      "tiers",
      "writes",
    ]);
  });
});
