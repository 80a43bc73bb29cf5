/**
 * Workers that read one configuration share its links: a worker that joins is handed its share,
 * a worker that stops hands its links back, and no message is lost or stored twice meanwhile.
 */
import { BRIDGE_SUBJECTS, type LinkListEntry } from "@entente/protocol";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BridgeHost,
  connectTo,
  duplicatesAndMissing,
  eventually,
  publishNumbered,
  readStream,
  startBridge,
} from "./helpers.ts";

const LINKS = 4;
const PER_PHASE = 3000;
/** Published as the second worker joins, so links are handed over with a backlog. */
const BACKLOG = 40_000;

describe("workers sharing one configuration", () => {
  let control: NatsServer;
  let upstream: NatsServer;
  let downstream: NatsServer;
  let up: NatsConnection;
  let down: NatsConnection;
  const workers: BridgeHost[] = [];
  let bridge: Record<string, unknown>;

  beforeAll(async () => {
    control = await startNatsServer({ jetstream: true, args: ["--server_name", "control"] });
    upstream = await startNatsServer({ jetstream: true, args: ["--server_name", "up"] });
    downstream = await startNatsServer({ jetstream: true, args: ["--server_name", "down"] });
    up = await connectTo(upstream.url);
    down = await connectTo(downstream.url);
    await (await jetstreamManager(down)).streams.add({
      name: "SHARED",
      subjects: ["share.>"],
      storage: StorageType.File,
    });
    const links = Object.fromEntries(
      Array.from({ length: LINKS }, (_, k) => [
        `share${k}`,
        {
          upstream: { kind: "nats", url: upstream.url, subjects: [`share.${k}.>`] },
          downstream: { kind: "jetstream", url: downstream.url, stream: "SHARED" },
          prefetch: 500,
        },
      ]),
    );
    // An ack wait (three confirmation timeouts, five minutes) far beyond the test's patience: a
    // message left delivered to a link that stopped would arrive too late, and the test fails.
    bridge = { leaseTtlMs: 1500, statusIntervalMs: 300, confirmTimeoutMs: 100_000, links };
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await w.stop();
    for (const nc of [up, down]) await nc?.close();
    for (const s of [control, upstream, downstream]) await s?.stop();
  });

  /** What each link's consumer upstream still holds: unacknowledged messages are stranded. */
  async function upstreamState(): Promise<string> {
    const jsm = await jetstreamManager(up);
    const states = [];
    for (let k = 0; k < LINKS; k++) {
      const info = await jsm.consumers.info(`ENTENTE_BRIDGE_SHARE${k}`, `entente_bridge_share${k}`);
      states.push(`share${k} pending ${info.num_pending}, unacknowledged ${info.num_ack_pending}`);
    }
    return states.join("; ");
  }

  /** Connected links by owner, as the workers report them. */
  async function linksByOwner(via: BridgeHost): Promise<number[]> {
    const { links } = await via.client.request<{ links: LinkListEntry[] }>(
      BRIDGE_SUBJECTS.list,
      {},
    );
    const counts = new Map<string, number>();
    for (const link of links) {
      if (link.status?.status !== "connected") continue;
      counts.set(link.status.owner, (counts.get(link.status.owner) ?? 0) + 1);
    }
    return [...counts.values()].sort();
  }

  it("hands a joining worker its share and takes the links back when it stops; every message once", async () => {
    const subject = (i: number) => `share.${i % LINKS}.m`;
    const first = await startBridge(control.url, bridge);
    workers.push(first);
    await eventually("one worker runs every link", async () => {
      return JSON.stringify(await linksByOwner(first)) === JSON.stringify([LINKS]);
    });
    await publishNumbered(up, subject, PER_PHASE);

    // A second worker joins while messages flow: half the links move to it.
    const second = await startBridge(control.url, bridge);
    workers.push(second);
    const publishing = publishNumbered(up, subject, BACKLOG, { from: PER_PHASE });
    await eventually("each worker runs half the links", async () => {
      return JSON.stringify(await linksByOwner(second)) === JSON.stringify([2, 2]);
    });
    await publishing;

    // The first stops: its links go back to the second.
    await first.stop();
    await publishNumbered(up, subject, PER_PHASE, { from: PER_PHASE + BACKLOG });
    await eventually("the remaining worker runs every link", async () => {
      return JSON.stringify(await linksByOwner(second)) === JSON.stringify([LINKS]);
    });

    const total = 2 * PER_PHASE + BACKLOG;
    const jsm = await jetstreamManager(down);
    const arrived = async () => (await jsm.streams.info("SHARED")).state.messages >= total;
    await eventually(`${total} messages in SHARED`, arrived, 120_000).catch(async (error) => {
      throw new Error(`${(error as Error).message}; upstream: ${await upstreamState()}`);
    });
    const { indexes } = await readStream(down, "SHARED");
    expect(duplicatesAndMissing(indexes, total)).toEqual({ duplicates: 0, missing: 0 });
    expect(indexes.length).toBe(total);
  }, 240_000);
});
