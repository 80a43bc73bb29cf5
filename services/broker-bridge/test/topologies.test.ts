import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeHost as Worker } from "./helpers.ts";
import { connectTo, eventually, startBridge, waitForStatus } from "./helpers.ts";

/** Counts what each broker's subscribers see, by message body. */
function tally(nc: NatsConnection, subject: string): Map<string, number> {
  const seen = new Map<string, number>();
  nc.subscribe(subject, {
    callback: (_e, m) => {
      const body = new TextDecoder().decode(m.data);
      seen.set(body, (seen.get(body) ?? 0) + 1);
    },
  });
  return seen;
}

const settle = () => new Promise((r) => setTimeout(r, 1500));

describe("topologies", () => {
  const servers: NatsServer[] = [];
  const conns: NatsConnection[] = [];
  let worker: Worker;
  const names = ["a", "b", "c", "p", "q"];

  beforeAll(async () => {
    for (const name of names) {
      servers.push(await startNatsServer({ jetstream: true, args: ["--server_name", name] }));
    }
    for (const s of servers) conns.push(await connectTo(s.url));
    const [a, b, c, p, q] = servers.map((s) => s.url);
    const link = (from: string, to: string, subjects: string[], maxHops: number) => ({
      upstream: { kind: "nats", url: from, subjects },
      downstream: { kind: "nats", url: to },
      maxHops,
    });
    worker = await startBridge(a as string, {
      statusIntervalMs: 500,
      links: {
        // A ring a → b → c → a with max hops 2.
        "ring-ab": link(a as string, b as string, ["ring.>"], 2),
        "ring-bc": link(b as string, c as string, ["ring.>"], 2),
        "ring-ca": link(c as string, a as string, ["ring.>"], 2),
        // A bidirectional pair p ⇄ q.
        "pair-pq": link(p as string, q as string, ["pair.>"], 1),
        "pair-qp": link(q as string, p as string, ["pair.>"], 1),
      },
    });
    const nc = conns[0] as NatsConnection;
    await Promise.all(
      ["ring-ab", "ring-bc", "ring-ca", "pair-pq", "pair-qp"].map((l) =>
        waitForStatus(nc, l, (s) => s.status === "connected"),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    for (const nc of conns) await nc.close();
    for (const s of servers) await s.stop();
  });

  it("a three-broker ring with max hops 2 delivers each message once on every broker, never looping", async () => {
    const [a, b, c] = conns as [NatsConnection, NatsConnection, NatsConnection];
    const seen = { a: tally(a, "ring.>"), b: tally(b, "ring.>"), c: tally(c, "ring.>") };
    await Promise.all([a.flush(), b.flush(), c.flush()]);
    for (let i = 0; i < 50; i++) a.publish("ring.x", `from-a-${i}`);
    for (let i = 0; i < 50; i++) b.publish("ring.x", `from-b-${i}`);
    for (let i = 0; i < 50; i++) c.publish("ring.x", `from-c-${i}`);
    await Promise.all([a.flush(), b.flush(), c.flush()]);
    await eventually("150 messages on each broker", () =>
      Object.values(seen).every((m) => m.size === 150),
    );
    await settle(); // anything looping would arrive again by now
    for (const [broker, counts] of Object.entries(seen)) {
      expect(
        [...counts.values()].every((n) => n === 1),
        `${broker} saw a message twice`,
      ).toBe(true);
      expect(counts.size).toBe(150);
    }
    // c forwards its own and b's messages to a; a's own came back to its origin: stopped.
    const ca = await waitForStatus(
      a,
      "ring-ca",
      (s) => s.counters.forwarded + s.counters.loops >= 150,
    );
    expect(ca.counters).toMatchObject({ forwarded: 100, loops: 50, maxHops: 0 });
    // b's messages reach a in two hops; a third (a → b) is beyond max hops — and b is on the path.
    const ab = await waitForStatus(
      a,
      "ring-ab",
      (s) => s.counters.forwarded + s.counters.loops + s.counters.maxHops >= 150,
    );
    expect(ab.counters.forwarded).toBe(100);
  }, 60_000);

  it("a bidirectional pair delivers each message once on each side", async () => {
    const [, , , p, q] = conns as NatsConnection[] as [
      unknown,
      unknown,
      unknown,
      NatsConnection,
      NatsConnection,
    ];
    const seenP = tally(p, "pair.>");
    const seenQ = tally(q, "pair.>");
    await Promise.all([p.flush(), q.flush()]);
    for (let i = 0; i < 100; i++) p.publish("pair.m", `p-${i}`);
    for (let i = 0; i < 100; i++) q.publish("pair.m", `q-${i}`);
    await Promise.all([p.flush(), q.flush()]);
    await eventually("200 messages on each side", () => seenP.size === 200 && seenQ.size === 200);
    await settle();
    expect([...seenP.values()].every((n) => n === 1)).toBe(true);
    expect([...seenQ.values()].every((n) => n === 1)).toBe(true);
    const status = await waitForStatus(
      conns[0] as NatsConnection,
      "pair-qp",
      (s) => s.counters.loops >= 100,
    );
    expect(status.counters.forwarded).toBe(100);
  }, 60_000);
});
