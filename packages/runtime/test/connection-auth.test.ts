/**
 * `natsAuthOptions`, the one way every Entente connection (worker, command line, bridge link)
 * authenticates: each kind of credential, against a real nats-server.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { nkeys } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.ts";
import { SecretError } from "../src/config/secret.ts";
import { connectionOptions, natsAuthOptions, redactServers } from "../src/connection.ts";

const dir = mkdtempSync(join(tmpdir(), "entente-auth-"));
const user = nkeys.createUser();
const seedFile = join(dir, "user.nk");
writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
const passFile = join(dir, "pass");
writeFileSync(passFile, "file-password\n");

let users: NatsServer;
let tokens: NatsServer;

beforeAll(async () => {
  [users, tokens] = await Promise.all([
    startNatsServer({
      jetstream: false,
      config: `authorization { users = [
        { user: worker, password: "file-password" }
        { nkey: ${user.getPublicKey()} }
      ] }`,
    }),
    startNatsServer({ jetstream: false, config: `authorization { token: "env-token" }` }),
  ]);
});

afterAll(async () => {
  await Promise.all([users?.stop(), tokens?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function connects(servers: string, settings: Parameters<typeof natsAuthOptions>[0]) {
  const nc = await connect({
    servers,
    maxReconnectAttempts: 0,
    ...natsAuthOptions(settings, { TOKEN: "env-token" }),
  });
  await nc.close();
  return true;
}

describe("natsAuthOptions", () => {
  it("authenticates with a user and a password read from a file", async () => {
    expect(await connects(users.url, { user: "worker", pass: { file: passFile } })).toBe(true);
  });

  it("authenticates with a token read from the environment", async () => {
    expect(await connects(tokens.url, { token: { env: "TOKEN" } })).toBe(true);
  });

  it("authenticates with an NKey seed file", async () => {
    expect(await connects(users.url, { nkeySeedFile: seedFile })).toBe(true);
  });

  it("is refused with wrong credentials", async () => {
    await expect(connects(users.url, { user: "worker", pass: "wrong" })).rejects.toThrow(
      /Authorization/i,
    );
  });

  it("names a missing variable without connecting", () => {
    expect(() => natsAuthOptions({ token: { env: "NOT_THERE" } }, {})).toThrow(SecretError);
  });

  it("is what a worker's and the command line's options are made of", () => {
    const { config } = loadConfig({
      text: `nats:\n  user: worker\n  pass: { file: ${passFile} }\n  nkeySeedFile: ${seedFile}\n  inboxPrefix: _INBOX.worker\n  tls: { caFile: /ca.pem }\n`,
      env: {},
    });
    const options = connectionOptions(config.nats, "test");
    expect(options).toMatchObject({
      user: "worker",
      pass: "file-password",
      inboxPrefix: "_INBOX.worker",
      tls: { caFile: "/ca.pem" },
    });
    expect(typeof options.authenticator).toBe("function");
  });
});

describe("redactServers", () => {
  it("masks credentials in server URLs", () => {
    expect(redactServers("nats://u:p@a:4222, nats://tok@b:4222, nats://c:4222")).toBe(
      "nats://***@a:4222, nats://***@b:4222, nats://c:4222",
    );
  });
});
