/**
 * Deployments sharing one NATS server stay apart, and workers of one service in one deployment
 * refuse to serve together when their configurations differ: real `entente serve` processes.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Entente } from "@entente/client";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "./cli-fixture.ts";

const run = promisify(execFile);

describe("deployments on one NATS server", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  /** Configuration with a `customers` table that the embedded default does not have. */
  let otherConfig: string;
  const workers: ManagedProcess[] = [];

  function serve(name: string, env: NodeJS.ProcessEnv, configFile?: string) {
    return startProcess({
      name,
      command: process.execPath,
      args: [
        "--conditions=@entente/source",
        BIN,
        ...(configFile ? ["-c", configFile] : []),
        "serve",
        "sql-join",
      ],
      cwd: ROOT,
      env: { ...process.env, NATS_URL: nats.url, ...env },
      readyLine: /"msg":"worker ready"/,
      timeoutMs: 30_000,
    });
  }

  async function started(name: string, env: NodeJS.ProcessEnv, configFile?: string) {
    const worker = await serve(name, env, configFile);
    workers.push(worker);
    return worker;
  }

  function entente(deployment?: string): Entente {
    return new Entente(new EntenteClient(nc), deployment ? { deployment } : {});
  }

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: false });
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
    dir = await mkdtemp(join(tmpdir(), "entente-deployments-"));
    const csv = join(dir, "customers.csv");
    await writeFile(csv, "id,name\n1,Ada\n2,Grace\n3,Edsger\n");
    otherConfig = join(dir, "other.yaml");
    await writeFile(
      otherConfig,
      `sources:\n  crm: { kind: duckdb, files: { customers: "${csv}" } }\n`,
    );
    // The first deployment on the embedded default (users, orders), as `serve all` would run it.
    await started("entente serve sql-join (default)", {});
  }, 60_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers each deployment's requests from its own workers only", async () => {
    await started("entente serve sql-join (other)", { ENTENTE_DEPLOYMENT: "other" }, otherConfig);
    for (let i = 0; i < 6; i++) {
      const own = await entente().sql("SELECT count(*) AS n FROM users");
      expect(own.rows).toEqual([[1000]]);
      const other = await entente("other").sql("SELECT count(*) AS n FROM customers");
      expect(other.rows).toEqual([[3]]);
    }
    await expect(entente().sql("SELECT count(*) FROM customers")).rejects.toThrow(
      /unknown table "customers"/,
    );

    // The command line follows ENTENTE_DEPLOYMENT the same way.
    const cliConfig = join(dir, "cli.yaml");
    await writeFile(cliConfig, `nats: { servers: ["${nats.url}"] }\n`);
    const { stdout } = await run(
      process.execPath,
      [
        "--conditions=@entente/source",
        BIN,
        "-c",
        cliConfig,
        "sql",
        "--format",
        "json",
        "SELECT name FROM customers ORDER BY id",
      ],
      { cwd: ROOT, env: { ...process.env, ENTENTE_DEPLOYMENT: "other" } },
    );
    expect(JSON.parse(stdout).rows).toEqual([["Ada"], ["Grace"], ["Edsger"]]);
  });

  it("refuses to join running workers that answer from another configuration", async () => {
    const refused = await serve("entente serve sql-join (mismatched)", {}, otherConfig).then(
      (worker) => {
        workers.push(worker);
        return undefined;
      },
      (err: unknown) => err as Error,
    );
    expect(refused).toBeInstanceOf(Error);
    const output = refused?.message ?? "";
    expect(output).toMatch(/exited with code 1|code 1/);
    expect(output).toMatch(
      /running sql-join workers of deployment entente answer from another configuration \(fingerprints differ on entente\.sql: worker \w+ has [0-9a-f]{16}, this worker [0-9a-f]{16}[;)]/,
    );
    expect(output).toMatch(/runtime\.allowMismatchedPeers/);
    // The running worker kept every request.
    const own = await entente().sql("SELECT count(*) AS n FROM users");
    expect(own.rows).toEqual([[1000]]);
  });

  it("joins with the same configuration, and with a mismatch only when allowed", async () => {
    const same = await started("entente serve sql-join (same)", {});
    expect(same.logs.lines().join("\n")).not.toMatch(/another configuration/);

    const allowed = await started(
      "entente serve sql-join (rolling upgrade)",
      { ENTENTE_RUNTIME__ALLOWMISMATCHEDPEERS: "true" },
      otherConfig,
    );
    expect(allowed.logs.lines().join("\n")).toMatch(
      /another configuration.*joining anyway, as runtime\.allowMismatchedPeers allows/,
    );
    await allowed.stop();
  });
});
