import { BRIDGE_SUBJECTS, type LinkListEntry } from "@entente/protocol";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeHost as Worker } from "./helpers.ts";
import { connectTo, eventually, readStream, startBridge, waitForStatus } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("operating links", () => {
  let control: NatsServer;
  let upstream: NatsServer;
  let downstream: NatsServer;
  let ctl: NatsConnection;
  let up: NatsConnection;
  let down: NatsConnection;
  const workers: Worker[] = [];

  beforeAll(async () => {
    control = await startNatsServer({ jetstream: true, args: ["--server_name", "control"] });
    upstream = await startNatsServer({ jetstream: true, args: ["--server_name", "up"] });
    downstream = await startNatsServer({ jetstream: true, args: ["--server_name", "down"] });
    ctl = await connectTo(control.url);
    up = await connectTo(upstream.url);
    down = await connectTo(downstream.url);
    const bridge = {
      statusIntervalMs: 300,
      stallAfterMs: 1500,
      maxMessageBytes: 4096,
      leaseTtlMs: 1500,
      links: {
        buffered: {
          upstream: { kind: "nats", url: upstream.url, subjects: ["buffered.>"] },
          downstream: { kind: "jetstream", url: downstream.url, stream: "BUFFERED" },
          messageTtl: 4000,
          reconnectDelayMs: 300,
        },
        checked: {
          upstream: { kind: "nats", url: upstream.url, subjects: ["checked.>"] },
          downstream: { kind: "nats", url: downstream.url },
        },
      },
    };
    workers.push(await startBridge(control.url, bridge));
    workers.push(await startBridge(control.url, bridge));
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await w.stop();
    for (const nc of [ctl, up, down]) await nc?.close();
    for (const s of [control, upstream, downstream]) await s?.stop();
  });

  it("downstream stopped and restarted: what was buffered arrives, a message older than its TTL does not", async () => {
    await waitForStatus(ctl, "buffered", (s) => s.status === "connected");
    for (let i = 0; i < 100; i++) up.publish("buffered.early", `early-${i}`);
    await up.flush();
    const jsm = () => jetstreamManager(down);
    await eventually(
      "100 early messages",
      async () => (await (await jsm()).streams.info("BUFFERED")).state.messages === 100,
    );

    await downstream.kill();
    await waitForStatus(ctl, "buffered", (s) => s.status === "downstream_down");
    for (let i = 0; i < 50; i++) up.publish("buffered.old", `old-${i}`);
    await up.flush();
    await sleep(4500); // older than messageTtl by now
    for (let i = 0; i < 50; i++) up.publish("buffered.fresh", `fresh-${i}`);
    await up.flush();
    await downstream.restart();
    await waitForStatus(ctl, "buffered", (s) => s.status === "connected");
    await eventually(
      "fresh messages arrive",
      async () => (await (await jsm()).streams.info("BUFFERED")).state.messages >= 150,
    );
    await sleep(1000);
    let subjects: Record<string, number> | undefined;
    await eventually("the stream's subjects", async () => {
      const info = await (await jsm()).streams.info("BUFFERED", { subjects_filter: ">" });
      subjects = info.state.subjects;
      return true;
    });
    expect(subjects).toEqual({ "buffered.early": 100, "buffered.fresh": 50 });
  }, 90_000);

  it("malformed and oversized messages are reported and skipped; the link goes on", async () => {
    await waitForStatus(ctl, "checked", (s) => s.status === "connected");
    const received: string[] = [];
    const sub = down.subscribe("checked.>", {
      callback: (_e, m) => {
        received.push(new TextDecoder().decode(m.data));
      },
    });
    await down.flush();
    up.publish("checked.a", "before");
    up.publish("checked.a", new Uint8Array(5000));
    const bad = headers();
    bad.set("Entente-Bridge-Hops", "banana");
    up.publish("checked.a", "malformed", { headers: bad });
    up.publish("checked.a", "after");
    await up.flush();
    await eventually(
      "before and after arrive",
      () => received.includes("after") && received.includes("before"),
    );
    const status = await waitForStatus(
      ctl,
      "checked",
      (s) => s.counters.malformed === 1 && s.counters.oversized === 1,
    );
    expect(status.status).toBe("connected");
    expect(status.counters.forwarded).toBe(2);
    expect(status.lastProblem).toMatch(/Entente-Bridge-Hops|bytes exceeds/);
    expect(received).toEqual(["before", "after"]);
    sub.unsubscribe();
  }, 60_000);

  it("a link added at run time runs on one worker, is listed, and stops when removed", async () => {
    const client = (workers[0] as Worker).client;
    await expect(
      client.request(BRIDGE_SUBJECTS.add, {
        link: "late",
        definition: { upstream: { kind: "nats" } },
      }),
    ).rejects.toThrow(/upstream.url|upstream.subjects/);
    await client.request(BRIDGE_SUBJECTS.add, {
      link: "late",
      definition: {
        upstream: { kind: "nats", url: upstream.url, subjects: ["late.>"] },
        downstream: { kind: "nats", url: downstream.url, subjectPrefix: "arrived" },
      },
    });
    const connected = await waitForStatus(ctl, "late", (s) => s.status === "connected");
    const received: string[] = [];
    const sub = down.subscribe("arrived.late.>", {
      callback: (_e, m) => {
        received.push(m.subject);
      },
    });
    await down.flush();
    up.publish("late.one", "1");
    await up.flush();
    await eventually("the run-time link forwards", () => received.length === 1);

    const { links } = await (workers[1] as Worker).client.request<{ links: LinkListEntry[] }>(
      BRIDGE_SUBJECTS.list,
      {},
    );
    const late = links.find((l) => l.link === "late");
    expect(late?.source).toBe("runtime");
    expect(late?.status?.owner).toBe(connected.owner);
    expect(links.map((l) => l.link)).toEqual(["buffered", "checked", "late"]);

    // Changed at run time: restarted with the new definition, on the same buffer. What is
    // published before the old definition stopped may still go its way: wait for the restart.
    const oldStopped = waitForStatus(ctl, "late", (s) => s.status === "stopped");
    await ctl.flush();
    await client.request(BRIDGE_SUBJECTS.add, {
      link: "late",
      definition: {
        upstream: { kind: "nats", url: upstream.url, subjects: ["late.>"] },
        downstream: { kind: "nats", url: downstream.url, subjectPrefix: "moved" },
      },
    });
    await oldStopped;
    await waitForStatus(ctl, "late", (s) => s.status === "connected");
    const moved: string[] = [];
    const movedSub = down.subscribe("moved.late.>", {
      callback: (_e, m) => {
        moved.push(m.subject);
      },
    });
    await down.flush();
    await eventually("the changed link runs", async () => {
      up.publish("late.changed", "c");
      await up.flush();
      await sleep(200);
      return moved.length > 0;
    });
    movedSub.unsubscribe();
    expect(received).toEqual(["arrived.late.one"]);

    // The owner stops a removed link at once, maybe before the reply arrives: listen first.
    const removed = waitForStatus(ctl, "late", (s) => s.status === "stopped");
    await ctl.flush();
    await client.request(BRIDGE_SUBJECTS.remove, { link: "late" });
    await removed;
    up.publish("late.two", "2");
    await up.flush();
    await sleep(1000);
    expect(received).toEqual(["arrived.late.one"]);
    await expect(client.request(BRIDGE_SUBJECTS.remove, { link: "late" })).rejects.toThrow(
      /no link named/,
    );
    sub.unsubscribe();
  }, 60_000);

  it("upstream server restarted: reported upstream_down, then forwarding again from its buffer", async () => {
    await waitForStatus(ctl, "checked", (s) => s.status === "connected");
    const received: string[] = [];
    const sub = down.subscribe("checked.>", {
      callback: (_e, m) => {
        received.push(new TextDecoder().decode(m.data));
      },
    });
    await down.flush();
    await upstream.kill();
    await waitForStatus(ctl, "checked", (s) => s.status === "upstream_down");
    await upstream.restart();
    await waitForStatus(ctl, "checked", (s) => s.status === "connected");
    // The link may be back before this test's own connection to the upstream is.
    await eventually("the publisher is reconnected", async () => {
      await up.flush();
      return true;
    });
    for (let i = 0; i < 20; i++) up.publish("checked.again", `again-${i}`);
    await up.flush();
    await eventually("20 messages after the restart", () => received.length === 20);
    sub.unsubscribe();
  }, 60_000);

  it("a link with lag and no progress is reported stalled and restarted", async () => {
    // A downstream stream that refuses new messages once full: PubAcks fail, nothing moves.
    const jsm = await jetstreamManager(down);
    await jsm.streams.add({
      name: "FULL",
      subjects: ["stuck.>"],
      max_msgs: 5,
      discard: "new" as never,
    });
    await (workers[0] as Worker).client.request(BRIDGE_SUBJECTS.add, {
      link: "stuck",
      definition: {
        upstream: { kind: "nats", url: upstream.url, subjects: ["stuck.>"] },
        downstream: { kind: "jetstream", url: downstream.url, stream: "FULL" },
      },
    });
    await waitForStatus(ctl, "stuck", (s) => s.status === "connected");
    for (let i = 0; i < 20; i++) up.publish("stuck.x", `s-${i}`);
    await up.flush();
    const stalled = await waitForStatus(ctl, "stuck", (s) => s.status === "stalled", 20_000);
    expect(stalled.reason).toMatch(/no progress/);
    const restarted = await waitForStatus(
      ctl,
      "stuck",
      (s) => s.restarts >= 1 && s.status === "connected",
      20_000,
    );
    expect(restarted.lag).toBeGreaterThan(0);
    const { indexes } = await readStream(down, "FULL").then((r) => ({ indexes: r.total }));
    expect(indexes).toBe(5);
    await (workers[0] as Worker).client.request(BRIDGE_SUBJECTS.remove, { link: "stuck" });
  }, 60_000);
});
