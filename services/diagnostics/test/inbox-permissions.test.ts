import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diagnosticsService, patternBytes } from "../src/index.ts";

/**
 * Finding 5, reading: on an open server anyone may subscribe to `_INBOX.>` and read every reply.
 * With the permissions of docs/security.md (the same text is below), each user reads only its
 * own inbox prefix, and a stranger sees nothing of another client's stream.
 */

const AUTHORIZATION = `
authorization {
  users = [
    {
      user: worker
      password: worker-secret
      permissions: {
        publish: ["entente.>", "_INBOX.>"]
        subscribe: ["entente.>", "$SRV.>", "_INBOX.worker.>"]
      }
    }
    {
      user: alice
      password: alice-secret
      permissions: {
        publish: ["entente.>", "$SRV.>", "_INBOX.worker.>"]
        subscribe: ["_INBOX.alice.>"]
      }
    }
    {
      user: mallory
      password: mallory-secret
      permissions: {
        publish: ["entente.>", "$SRV.>", "_INBOX.worker.>"]
        subscribe: ["_INBOX.mallory.>"]
      }
    }
  ]
}
`;

let server: NatsServer;
let worker: Worker;
let alice: NatsConnection;
let mallory: NatsConnection;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "entente-permissions-"));
  const file = join(dir, "nats.conf");
  writeFileSync(file, AUTHORIZATION);
  server = await startNatsServer({ jetstream: false, args: ["-c", file] });
  const config = loadConfig({
    text: [
      "nats:",
      "  user: worker",
      "  pass: worker-secret",
      "  inboxPrefix: _INBOX.worker",
      "log:",
      "  level: error",
    ].join("\n"),
    env: { NATS_URL: server.url },
  });
  worker = await startWorker({ services: [diagnosticsService], config });
  const user = (name: string) =>
    connect({
      servers: server.url,
      user: name,
      pass: `${name}-secret`,
      inboxPrefix: `_INBOX.${name}`,
    });
  [alice, mallory] = await Promise.all([user("alice"), user("mallory")]);
});

afterAll(async () => {
  await Promise.all([alice?.close(), mallory?.close()]);
  await worker?.stop();
  await server?.stop();
});

describe("inboxes that only their owner reads", () => {
  it("keep a stranger from reading another client's stream, while both are served", async () => {
    const refused: string[] = [];
    let read = 0;
    for (const subject of ["_INBOX.>", "_INBOX.alice.>", "_INBOX.worker.>", "entente.>", ">"]) {
      mallory.subscribe(subject, {
        callback: (err) => {
          if (err) refused.push(subject);
          else read++;
        },
      });
    }

    const itemBytes = 64 * 1024;
    const items: Array<{ index: number; data: Uint8Array }> = [];
    for await (const item of new EntenteClient(alice).stream(
      SUBJECTS.diagnostics.stream,
      { bytes: 64 * itemBytes, itemBytes },
      { timeoutMs: 20_000 },
    )) {
      items.push(item as { index: number; data: Uint8Array });
    }
    expect(items).toHaveLength(64);
    expect(
      items.every((item, i) => Buffer.from(item.data).equals(patternBytes(i, itemBytes))),
    ).toBe(true);

    // The stranger's own calls work: it is refused only what is not its own.
    const echo = await new EntenteClient(mallory).request(
      SUBJECTS.diagnostics.echo,
      { payload: "mine" },
      { timeoutMs: 10_000 },
    );
    expect(echo).toEqual({ payload: "mine" });
    await mallory.flush();
    expect(refused.sort()).toEqual([
      ">",
      "_INBOX.>",
      "_INBOX.alice.>",
      "_INBOX.worker.>",
      "entente.>",
    ]);
    expect(read).toBe(0);
  });
});
