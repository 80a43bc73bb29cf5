import { setTimeout as sleep } from "node:timers/promises";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterEach, describe, expect, it } from "vitest";
import type { NatsSettings } from "../src/config/schema.ts";
import { connectNats } from "../src/connection.ts";
import { createLogger } from "../src/logger.ts";

interface Line {
  level: string;
  msg: string;
  [key: string]: unknown;
}

function capture() {
  const lines: Line[] = [];
  const logger = createLogger({
    service: "connection-test",
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  });
  return { lines, logger };
}

/** Polls until `check` holds; fails after `timeoutMs` (a bound, not a timing assertion). */
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let server: NatsServer | undefined;
let nc: NatsConnection | undefined;

afterEach(async () => {
  await nc?.close();
  nc = undefined;
  await server?.stop();
  server = undefined;
});

describe("connectNats", () => {
  it("says it is waiting for NATS, and why, until it connects; then logs reconnections", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const { lines, logger } = capture();
    const settings: NatsSettings = {
      servers: [url],
      maxReconnectAttempts: -1,
      reconnectTimeWaitMs: 50,
    };
    const connecting = connectNats(settings, { name: "test", logger, waitLogIntervalMs: 200 });
    let connected = false;
    void connecting.then(() => {
      connected = true;
    });

    const waiting = (line: Line) => line.level === "warn" && line.msg.includes(url);
    await until("a first warning", () => lines.some(waiting));
    // Later attempts are summed up, not logged one by one.
    await until("a repeated warning", () => lines.filter(waiting).length >= 2);
    expect(connected).toBe(false);
    expect(lines[0]).toMatchObject({ level: "info", msg: `connecting to NATS at ${url}` });
    const warnings = lines.filter(waiting);
    expect(warnings[0]?.msg).toMatch(/^cannot reach NATS at .*: connection refused/);
    expect(warnings[1]?.msg).toMatch(/^still waiting for NATS at .*connection refused/);
    expect(warnings[0]?.msg).toMatch(/ECONNREFUSED/);

    server = await startNatsServer({ port, jetstream: false });
    nc = await connecting;
    const connectedAt = lines.findIndex(
      (l) => l.level === "info" && /^connected to NATS/.test(l.msg),
    );
    expect(connectedAt).toBeGreaterThan(lines.lastIndexOf(warnings.at(-1) as Line));
    const countBefore = lines.length;
    // No more waiting lines once connected.
    await sleep(300);
    expect(lines.slice(countBefore).filter(waiting)).toEqual([]);

    await server.restart();
    await until("a reconnect line", () =>
      lines.some((l) => l.level === "info" && l.msg.startsWith("reconnected to NATS")),
    );
    const after = lines.slice(countBefore).map((l) => `${l.level} ${l.msg}`);
    expect(after[0]).toMatch(/^warn disconnected from NATS/);
    expect(after.at(-1)).toMatch(/^info reconnected to NATS at /);
  });
});
