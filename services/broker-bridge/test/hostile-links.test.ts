/**
 * Hostile link definitions. A thousand links to a broker that refuses every connection, added at
 * once over the control subject and then removed at once: while they fail, no identical line is
 * logged twice a minute; once removed, nothing of them goes on — no connection attempts, no status,
 * no log lines, no connections to a live server — and the worker answers other clients throughout.
 * Definitions that can never work are refused when added, naming the field.
 */
import { createServer, type Server } from "node:net";
import { BRIDGE_SUBJECTS, jsonCodec, type LinkListEntry, type LinkStatus } from "@entente/protocol";
import { createLogger, EntenteClient } from "@entente/runtime";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BridgeHost, connectTo, eventually, startBridge } from "./helpers.ts";

/** Links to the refusing broker, as many as in the report; the suite runs on two cores. */
const HOSTILE = 1000;
/** Links to a live server, whose connections must close as well. */
const LIVE = 10;
/** Every running link publishes its status this often: a link left running shows at once. */
const STATUS_INTERVAL_MS = 1000;
/** Long enough for a link that kept running to publish, log or retry several times. */
const QUIET_WINDOW_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A broker that closes every connection at once, counting the attempts. */
async function refusingBroker() {
  let attempts = 0;
  const server: Server = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  // A backlog for a thousand links dialling at once: a dropped SYN would be retried by the
  // kernel seconds later, an attempt landing long after its link stopped.
  await new Promise<void>((resolve) =>
    server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, resolve),
  );
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `nats://127.0.0.1:${port}`,
    attempts: () => attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("hostile link definitions", () => {
  let control: NatsServer;
  let live: NatsServer;
  let monitorPort: number;
  let refusing: Awaited<ReturnType<typeof refusingBroker>>;
  let worker: BridgeHost;
  /** The client adding and removing links, on its own connection. */
  let ctl: NatsConnection;
  let client: EntenteClient;
  /** A client with nothing to do with those links, which must be served meanwhile. */
  let bystanderNc: NatsConnection;
  let bystander: EntenteClient;
  let logLines = 0;
  /** When each kind of line (the line without its time and count) was last written. */
  const lastWritten = new Map<string, number>();
  /** Lines written again less than a minute after an identical one. */
  const repeatedWithinAMinute: string[] = [];

  beforeAll(async () => {
    control = await startNatsServer({ jetstream: true, args: ["--server_name", "control"] });
    monitorPort = await freePort();
    live = await startNatsServer({
      jetstream: true,
      args: ["--server_name", "live", "-m", String(monitorPort)],
    });
    refusing = await refusingBroker();
    const logger = createLogger({
      service: "entente-broker-bridge",
      level: "info",
      destination: {
        write: (line: string) => {
          logLines++;
          const { time, repeated: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const kind = JSON.stringify(rest);
          const at = Date.parse(String(time));
          const last = lastWritten.get(kind);
          if (last !== undefined && at - last < 60_000) repeatedWithinAMinute.push(kind);
          lastWritten.set(kind, at);
        },
      },
    });
    worker = await startBridge(
      control.url,
      { statusIntervalMs: STATUS_INTERVAL_MS, leaseTtlMs: 3000 },
      { logger },
    );
    ctl = await connectTo(control.url);
    client = new EntenteClient(ctl);
    bystanderNc = await connectTo(control.url);
    bystander = new EntenteClient(bystanderNc);
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await ctl?.close();
    await bystanderNc?.close();
    await refusing?.close();
    for (const s of [control, live]) await s?.stop();
  });

  const ownedLinks = async (): Promise<string[]> => {
    const reply = await ctl.request("$SRV.STATS.broker-bridge", "", { timeout: 10_000 });
    const stats = jsonCodec.decode(reply.data) as {
      endpoints: Array<{ data: { owned?: string[] } }>;
    };
    return stats.endpoints[0]?.data.owned ?? [];
  };

  const liveConnections = async (): Promise<number> => {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/connz`);
    return ((await response.json()) as { num_connections: number }).num_connections;
  };

  it("refuses definitions that cannot work with BAD_REQUEST, naming the field", async () => {
    const good = {
      upstream: { kind: "nats", url: live.url, subjects: ["orders.>"] },
      downstream: { kind: "nats", url: live.url, subjectPrefix: "copy" },
    };
    const cases: Array<[string, unknown, RegExp]> = [
      ["not a URL", { upstream: { ...good.upstream, url: "not a url" } }, /upstream\.url: /],
      [
        "a web URL",
        { upstream: { ...good.upstream, url: "http://h:4222" } },
        /upstream\.url: .*nats:\/\/ or tls:\/\//,
      ],
      [
        "no port",
        { downstream: { ...good.downstream, url: "nats://h:0" } },
        /downstream\.url: .*port 0/,
      ],
      [
        "port too large",
        { downstream: { ...good.downstream, url: "nats://h:70000" } },
        /downstream\.url: /,
      ],
      [
        "an empty cluster member",
        { upstream: { ...good.upstream, url: `${live.url},` } },
        /upstream\.url: an empty server/,
      ],
      [
        "an AMQP URL without host",
        { upstream: { kind: "rabbitmq", url: "amqp://", queue: "q" } },
        /upstream\.url: .*names no host/,
      ],
      [
        "'>' in the middle",
        { upstream: { ...good.upstream, subjects: ["a.>.b"] } },
        /upstream\.subjects\.0: .*last word/,
      ],
      [
        "a wildcard inside a word",
        { upstream: { ...good.upstream, subjects: ["a.b*"] } },
        /upstream\.subjects\.0: .*whole words/,
      ],
      [
        "overlapping subjects",
        { upstream: { ...good.upstream, subjects: ["a.x", "a.>"] } },
        /upstream\.subjects\.1: "a\.>" overlaps "a\.x"/,
      ],
      [
        "a subject twice",
        { upstream: { ...good.upstream, subjects: ["a", "a"] } },
        /upstream\.subjects\.1: .*listed twice/,
      ],
      [
        "a server subject",
        { upstream: { ...good.upstream, subjects: ["$JS.API.>"] } },
        /upstream\.subjects\.0: .*'\$'/,
      ],
      [
        "a wildcard prefix",
        { downstream: { ...good.downstream, subjectPrefix: "copy.*" } },
        /downstream\.subjectPrefix: .*no '\*' or '>'/,
      ],
      ["a spinning reconnect", { reconnectDelayMs: 10 }, /reconnectDelayMs: at least 100 ms/],
      [
        "a password from the worker's environment",
        { upstream: { ...good.upstream, pass: { env: "HOME" } } },
        /upstream\.pass: a link added at run time cannot use the worker's environment/,
      ],
      [
        "a token and a TLS key from the worker's files",
        {
          downstream: {
            ...good.downstream,
            token: { file: "/etc/hostname" },
            tls: { keyFile: "/etc/ssl/private/key.pem" },
          },
        },
        /downstream\.token, downstream\.tls\.keyFile: /,
      ],
      [
        "the worker's credentials file",
        { upstream: { ...good.upstream, credsFile: "/etc/nats/worker.creds" } },
        /upstream\.credsFile: /,
      ],
    ];
    for (const [what, change, field] of cases) {
      const request = client.request(BRIDGE_SUBJECTS.add, {
        link: "refused",
        definition: { ...good, ...(change as object) },
      });
      await expect(request, what).rejects.toMatchObject({ code: "BAD_REQUEST", message: field });
    }
    const { links } = await client.request<{ links: LinkListEntry[] }>(BRIDGE_SUBJECTS.list, {});
    expect(links.map((l) => l.link)).not.toContain("refused");
  });

  it(`${HOSTILE} links to a refusing broker and ${LIVE} live ones, removed at once, stop altogether`, async () => {
    const stopped = new Set<string>();
    let statusesAfterStop = 0;
    const statusSub = ctl.subscribe(BRIDGE_SUBJECTS.statusAll, {
      callback: (_err, msg) => {
        const status = jsonCodec.decode(msg.data) as LinkStatus;
        if (stopped.has(status.link)) statusesAfterStop++;
        if (status.status === "stopped") stopped.add(status.link);
      },
    });
    const hostile = Array.from({ length: HOSTILE }, (_, i) => ({
      link: `hostile-${i}`,
      definition: {
        upstream: { kind: "nats", url: refusing.url, subjects: [`hostile.${i}.>`] },
        downstream: { kind: "nats", url: refusing.url },
        reconnectDelayMs: 100,
      },
    }));
    const alive = Array.from({ length: LIVE }, (_, i) => ({
      link: `live-${i}`,
      definition: {
        upstream: { kind: "nats", url: live.url, subjects: [`live.${i}.>`] },
        downstream: { kind: "nats", url: live.url, subjectPrefix: "copied" },
      },
    }));
    const all = [...hostile, ...alive];
    const adding = Promise.all(all.map((body) => client.request(BRIDGE_SUBJECTS.add, body)));
    // Another client is served while the additions pour in…
    const during = await bystander.request<{ links: LinkListEntry[] }>(BRIDGE_SUBJECTS.list, {});
    expect(Array.isArray(during.links)).toBe(true);
    expect(await adding).toHaveLength(all.length);

    await eventually(
      `all ${all.length} links run on the worker`,
      async () => (await ownedLinks()).length === all.length,
      120_000,
    );
    await eventually(
      "every live link holds its two connections",
      async () => (await liveConnections()) === 2 * LIVE,
      90_000,
    );
    await eventually(
      "the hostile links have tried to connect twice each",
      () => refusing.attempts() >= 2 * HOSTILE,
      90_000,
    );
    // Failing the same way again writes no line already written in the last minute.
    expect(repeatedWithinAMinute).toEqual([]);
    // …and while the links fail and retry.
    const listed = await bystander.request<{ links: LinkListEntry[] }>(BRIDGE_SUBJECTS.list, {});
    expect(listed.links).toHaveLength(all.length);

    const removed = await Promise.all(
      all.map(({ link }) => client.request(BRIDGE_SUBJECTS.remove, { link })),
    );
    expect(removed).toEqual(all.map(({ link }) => ({ link, removed: true })));

    await eventually("no link is owned", async () => (await ownedLinks()).length === 0);
    await eventually("every link reported stopped", () => stopped.size === all.length);
    await eventually("the live server has no bridge connection left", async () => {
      return (await liveConnections()) === 0;
    });

    // A connection attempt begun just before its link stopped may still reach the broker;
    // wait until those have landed, then nothing more may come.
    let seen = -1;
    await eventually("attempts begun before the removal have landed", async () => {
      const now = refusing.attempts();
      const settled = now === seen;
      seen = now;
      await sleep(1000);
      return settled;
    });
    const before = { attempts: refusing.attempts(), logLines, statuses: statusesAfterStop };
    await sleep(QUIET_WINDOW_MS);
    expect({ attempts: refusing.attempts(), logLines, statuses: statusesAfterStop }).toEqual(
      before,
    );
    expect(repeatedWithinAMinute).toEqual([]);
    expect(await ownedLinks()).toEqual([]);
    expect(await liveConnections()).toBe(0);
    const after = await client.request<{ links: LinkListEntry[] }>(BRIDGE_SUBJECTS.list, {});
    expect(after.links).toEqual([]);
    statusSub.unsubscribe();
  }, 240_000);
});
