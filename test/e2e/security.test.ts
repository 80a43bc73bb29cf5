/**
 * Entente on a locked-down NATS server: TLS with client certificates (mutual TLS), an account
 * whose users have only the permissions docs/security.md lists, secrets read from files and
 * environment variables, and none of them in any log.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { connectionOptions, EntenteClient, loadConfig } from "@entente/runtime";
import {
  type CertificatePair,
  LogBuffer,
  type ManagedProcess,
  makeTestCertificates,
  type NatsServer,
  startNatsServer,
  startProcess,
  type TestCertificates,
} from "@entente/testkit";
import { type NatsConnection, nkeys } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "packages/server/src/bin.ts");

/** The permissions block of docs/security.md, as written there. */
async function documentedAccounts(): Promise<string> {
  const doc = await readFile(join(ROOT, "docs/security.md"), "utf8");
  const block = /```conf\n(# least-privilege accounts[^\n]*\n[\s\S]*?)```/.exec(doc)?.[1];
  if (block === undefined) throw new Error("docs/security.md has no least-privilege block");
  return block;
}

const secret = () => randomBytes(18).toString("base64url");

describe("Entente with TLS, mutual TLS and least-privilege permissions", () => {
  const secrets = {
    worker: secret(),
    bridge: secret(),
    app: secret(),
    token: secret(),
    seed: "",
  };
  let certs: TestCertificates;
  let workerCert: CertificatePair;
  let clientCert: CertificatePair;
  let dir: string;
  let nats: NatsServer;
  let downstream: NatsServer;
  let worker: ManagedProcess | undefined;
  const workerLogs = new LogBuffer(1_000_000);
  /** Everything the command line printed, on both streams. */
  const cliOutput: string[] = [];
  let clientConfigFile: string;
  const connections: NatsConnection[] = [];

  const tls = (pair?: CertificatePair) => ({
    caFile: certs.caFile,
    ...(pair ? { certFile: pair.certFile, keyFile: pair.keyFile } : {}),
  });

  /** Runs the real `entente` as the NKey client. */
  async function entente(...args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ["--conditions=@entente/source", BIN, "-c", clientConfigFile, ...args],
        { cwd: ROOT, timeout: 30_000 },
      );
      cliOutput.push(stdout, stderr);
      return stdout;
    } catch (err) {
      const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
      cliOutput.push(stdout, stderr);
      throw err;
    }
  }

  beforeAll(async () => {
    certs = await makeTestCertificates();
    [workerCert, clientCert] = await Promise.all([certs.client("worker"), certs.client("alice")]);
    dir = await mkdtemp(join(tmpdir(), "entente-security-"));

    const client = nkeys.createUser();
    secrets.seed = new TextDecoder().decode(client.getSeed());
    const seedFile = join(dir, "alice.nk");
    await writeFile(seedFile, `${secrets.seed}\n`, { mode: 0o600 });
    const workerPassFile = join(dir, "worker.pass");
    await writeFile(workerPassFile, `${secrets.worker}\n`, { mode: 0o600 });
    const tokenFile = join(dir, "downstream.token");
    await writeFile(tokenFile, secrets.token, { mode: 0o600 });

    const accounts = (await documentedAccounts())
      .replace("$WORKER_PASSWORD", JSON.stringify(secrets.worker))
      .replace("$BRIDGE_PASSWORD", JSON.stringify(secrets.bridge))
      .replace("$APP_PASSWORD", JSON.stringify(secrets.app))
      .replace("$CLIENT_NKEY", JSON.stringify(client.getPublicKey()));
    const serverTls = (verify: boolean) => `
tls {
  cert_file: ${JSON.stringify(certs.server.certFile)}
  key_file: ${JSON.stringify(certs.server.keyFile)}
  ca_file: ${JSON.stringify(certs.caFile)}
  verify: ${verify}
  timeout: 5
}
`;
    [nats, downstream] = await Promise.all([
      startNatsServer({ config: serverTls(true) + accounts, logLines: 100_000 }),
      // The bridge's downstream: TLS without client certificates, and a token.
      startNatsServer({
        jetstream: false,
        config: `${serverTls(false)}\nauthorization { token: ${JSON.stringify(secrets.token)} }\n`,
      }),
    ]);

    const workerConfig = join(dir, "worker.yaml");
    await writeFile(
      workerConfig,
      JSON.stringify({
        nats: {
          servers: [nats.url],
          user: "worker",
          pass: { file: workerPassFile },
          inboxPrefix: "_INBOX.worker",
          tls: tls(workerCert),
        },
        bridge: {
          statusIntervalMs: 500,
          links: {
            secure: {
              upstream: {
                kind: "nats",
                url: nats.url,
                user: "bridge",
                pass: { env: "ENTENTE_TEST_BRIDGE_PASSWORD" },
                inboxPrefix: "_INBOX.bridge",
                tls: tls(workerCert),
                subjects: ["app.>"],
              },
              downstream: {
                kind: "nats",
                url: downstream.url,
                token: { file: tokenFile },
                tls: tls(),
              },
            },
          },
        },
        log: { level: "debug" },
      }),
    );
    clientConfigFile = join(dir, "client.yaml");
    await writeFile(
      clientConfigFile,
      JSON.stringify({
        nats: {
          servers: [nats.url],
          nkeySeedFile: seedFile,
          inboxPrefix: "_INBOX.alice",
          tls: tls(clientCert),
        },
      }),
    );

    const { NATS_URL: _url, ENTENTE_CONFIG: _config, ...env } = process.env;
    worker = await startProcess({
      name: "entente serve all (secure)",
      command: process.execPath,
      args: ["--conditions=@entente/source", BIN, "-c", workerConfig, "serve", "all"],
      cwd: ROOT,
      env: { ...env, ENTENTE_TEST_BRIDGE_PASSWORD: secrets.bridge },
      readyLine: /"msg":"worker ready"/,
      timeoutMs: 60_000,
      logs: workerLogs,
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await worker?.stop("SIGTERM", 30_000);
    await Promise.allSettled([nats?.stop(), downstream?.stop()]);
    await certs?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Connects the way the command line does, from the client's configuration file. */
  async function connectAsClient(): Promise<NatsConnection> {
    const { config } = loadConfig({ file: clientConfigFile, env: {} });
    const nc = await connect({
      ...connectionOptions(config.nats, "security test"),
      waitOnFirstConnect: false,
      maxReconnectAttempts: 0,
    });
    connections.push(nc);
    return nc;
  }

  it("serves the command line, authenticated by an NKey over mutual TLS", async () => {
    const sql = JSON.parse(
      await entente("sql", "SELECT count(*) AS n FROM orders", "--format", "json"),
    ) as { columns: string[]; rows: unknown[] };
    expect(sql.columns).toEqual(["n"]);
    const [first] = sql.rows as Array<unknown[] | { n: unknown }>;
    expect(Number(Array.isArray(first) ? first[0] : first?.n)).toBeGreaterThan(0);
    const query = JSON.parse(
      await entente("query", "cpu_usage", "--agg", "max", "--format", "json"),
    );
    expect(query.points.length).toBeGreaterThan(0);
    const ping = JSON.parse(await entente("ping", "--format", "json"));
    expect(ping.region).toBe("local");
    const status = JSON.parse(await entente("status", "--format", "json")) as Array<{
      name: string;
    }>;
    expect(new Set(status.map((s) => s.name))).toEqual(
      new Set([
        "diagnostics",
        "query-federation",
        "sql-join",
        "broker-bridge",
        "region-router",
        "sagas",
        "graphql",
      ]),
    );
  });

  it("stores points a client ingests (JetStream through the worker's permissions)", async () => {
    const nc = await connectAsClient();
    const reply = await new EntenteClient(nc).request<{ accepted: number }>(
      "entente.ingest.edge-a",
      [{ metric: "secured", timestamp: `${BigInt(Date.now()) * 1_000_000n}`, value: 42 }],
      { timeoutMs: 10_000 },
    );
    expect(reply.accepted).toBe(1);
    // Accepted means in the stream; the store consumes it (and acknowledges) soon after.
    let points: Array<{ value: number }> = [];
    while (points.length === 0) {
      points = JSON.parse(await entente("query", "secured", "--format", "json")).points;
      if (points.length === 0) await sleep(200);
    }
    expect(points.map((p) => p.value)).toEqual([42]);
  });

  it("carries messages over a bridge link that authenticates on both sides", async () => {
    const down = await connect({
      servers: downstream.url,
      token: secrets.token,
      tls: tls(),
    });
    connections.push(down);
    const arrived = down.subscribe("app.>", { max: 1 });
    await down.flush();
    const app = await connect({
      servers: nats.url,
      user: "app",
      pass: secrets.app,
      inboxPrefix: "_INBOX.app",
      tls: tls(clientCert),
    });
    connections.push(app);
    // The link creates its buffer stream when it starts: publish until the stream acknowledges
    // (a request, so the app needs no JetStream permissions).
    let acknowledged = false;
    for (let attempt = 0; attempt < 100 && !acknowledged; attempt++) {
      try {
        const ack = await app.request("app.hello", "over the bridge", { timeout: 1000 });
        acknowledged = ack.json<{ stream?: string }>().stream !== undefined;
      } catch {
        await sleep(100);
      }
    }
    expect(acknowledged, "the link's buffer stream took the message").toBe(true);
    for await (const msg of arrived) {
      expect(msg.subject).toBe("app.hello");
      expect(msg.string()).toBe("over the bridge");
    }
  });

  it("refuses the client what is not its own", async () => {
    const nc = await connectAsClient();
    const refused: string[] = [];
    let read = 0;
    const subjects = [">", "_INBOX.>", "_INBOX.worker.>", "entente.>", "$SRV.>", "$JS.API.>"];
    for (const subject of subjects) {
      nc.subscribe(subject, {
        callback: (err) => {
          if (err) refused.push(subject);
          else read++;
        },
      });
    }
    // A request round trip after the subscriptions: their refusals have arrived by then.
    const ping = JSON.parse(await entente("ping", "--format", "json"));
    expect(ping.region).toBe("local");
    await nc.flush();
    expect(refused.sort()).toEqual([...subjects].sort());
    expect(read).toBe(0);
    // Nor may it call what only workers call (the federation's internal fan-out).
    await expect(nc.request("entente.query.federate", "{}", { timeout: 10_000 })).rejects.toThrow(
      /permission/i,
    );
  });

  it("refuses a connection without a client certificate", async () => {
    const { config } = loadConfig({ file: clientConfigFile, env: {} });
    const withoutCertificate = {
      ...config.nats,
      tls: { caFile: certs.caFile },
    };
    await expect(
      connect({
        ...connectionOptions(withoutCertificate, "security test"),
        waitOnFirstConnect: false,
        maxReconnectAttempts: 0,
        timeout: 5000,
      }),
    ).rejects.toThrow();
    expect(nats.logs().some((line) => /didn't provide a certificate/.test(line))).toBe(true);
    // The same settings with the certificate are let in.
    const nc = await connectAsClient();
    expect(nc.isClosed()).toBe(false);
  });

  it("refuses a wrong password", async () => {
    await expect(
      connect({
        servers: nats.url,
        user: "worker",
        pass: "not the password",
        tls: tls(workerCert),
        maxReconnectAttempts: 0,
      }),
    ).rejects.toThrow(/Authorization/i);
  });

  it("never writes a secret to a log, and the worker needs no more than its permissions", async () => {
    // Stopped first, so its logs hold the whole session, shutdown included.
    await worker?.stop("SIGTERM", 30_000);
    const logs = [...workerLogs.lines(), ...cliOutput].join("\n");
    expect(logs).toContain("worker ready");
    expect(logs).toContain('"msg":"stopped"');
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThan(8);
      expect(logs.includes(value), `${name} appears in a log`).toBe(false);
    }
    const violations = nats.logs().filter((line) => /Violation/.test(line));
    expect(violations.filter((line) => /User "(worker|bridge|app)"/.test(line))).toEqual([]);
  });
});
