import {
  amqpUrlProblem,
  filterListProblems,
  filterSubjectProblem,
  filtersOverlap,
  natsUrlProblem,
  publishSubjectProblem,
} from "@entente/protocol";
import { loadConfig } from "@entente/runtime";
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import { AckRuns } from "../src/ack-runs.ts";
import { reconnectDelay, withJitter } from "../src/backoff.ts";
import {
  amqpToHeaders,
  bindingKeyToSubjectFilters,
  bridgeSchema,
  crossing,
  headersToAmqp,
  type LinkEvent,
  linkMachine,
  routingKeyToSubject,
  statusOf,
  subjectFilterToBindingKey,
} from "../src/index.ts";
import { LogThrottle } from "../src/log-throttle.ts";
import { planShare } from "../src/share.ts";

describe("loop prevention", () => {
  it("starts the path at the upstream and adds the downstream", () => {
    expect(crossing(undefined, undefined, "a", "b", 1)).toEqual({
      forward: true,
      path: "a,b",
      hops: 1,
    });
  });
  it("never forwards into a broker on the path", () => {
    expect(crossing("a,b", "1", "b", "a", 5)).toEqual({ forward: false, reason: "loop" });
  });
  it("never forwards beyond max hops", () => {
    expect(crossing("a,b", "1", "b", "c", 1)).toEqual({ forward: false, reason: "max_hops" });
    expect(crossing("a,b", "1", "b", "c", 2)).toEqual({ forward: true, path: "a,b,c", hops: 2 });
  });
  it("rejects header values no bridge writes", () => {
    expect(() => crossing("a,,b", "1", "b", "c", 2)).toThrow(/Entente-Bridge-Path/);
    expect(() => crossing("a", "-1", "a", "c", 2)).toThrow(/Entente-Bridge-Hops/);
  });
});

describe("subjects and routing keys", () => {
  it("maps routing keys to subjects under a prefix", () => {
    expect(routingKeyToSubject("orders.eu", "rabbit")).toBe("rabbit.orders.eu");
    expect(routingKeyToSubject("", "rabbit")).toBe("rabbit");
    expect(() => routingKeyToSubject("a..b")).toThrow(/not a NATS subject/);
    expect(() => routingKeyToSubject("a.*")).toThrow(/not a NATS subject/);
  });
  it("maps wildcards both ways", () => {
    expect(subjectFilterToBindingKey("orders.*.>")).toBe("orders.*.#");
    expect(bindingKeyToSubjectFilters("orders.*.#")).toEqual(["orders.*.>", "orders.*"]);
    expect(bindingKeyToSubjectFilters("#")).toEqual([">"]);
    expect(() => bindingKeyToSubjectFilters("a.#.b")).toThrow(/'#' before the last word/);
  });
  it("carries AMQP properties as headers and back", () => {
    const list = amqpToHeaders({
      headers: { "x-n": 5, "x-list": ["a", "b"] },
      contentType: "text/plain",
      messageId: "m1",
      priority: 3,
    });
    expect(list).toEqual([
      ["x-n", "5"],
      ["x-list", "a"],
      ["x-list", "b"],
      ["Amqp-Content-Type", "text/plain"],
      ["Amqp-Message-Id", "m1"],
      ["Amqp-Priority", "3"],
    ]);
    expect(headersToAmqp(list)).toEqual({
      headers: { "x-n": "5", "x-list": ["a", "b"] },
      contentType: "text/plain",
      messageId: "m1",
      priority: 3,
    });
  });
});

describe("configuration", () => {
  const section = (text: string) => loadConfig({ text, env: {} }).section("bridge", bridgeSchema);

  it("reads the documented example with its defaults", () => {
    const bridge = section(`
bridge:
  links:
    orders-eu:
      upstream:   { kind: nats, url: "nats://127.0.0.1:4223", subjects: ["orders.>"] }
      downstream: { kind: jetstream, url: "nats://127.0.0.1:4222", stream: ORDERS }
      maxHops: 1
      prefetch: 1000
    rabbit-in:
      upstream:   { kind: rabbitmq, url: "amqp://guest:guest@127.0.0.1:5672", exchange: events, bindings: ["#"] }
      downstream: { kind: nats, url: "nats://127.0.0.1:4222", subjectPrefix: "rabbit" }
`);
    expect(bridge.links["orders-eu"]?.prefetch).toBe(1000);
    expect(bridge.links["rabbit-in"]).toMatchObject({
      maxHops: 1,
      prefetch: 1000,
      reconnectDelayMs: 1000,
      maxReconnectDelayMs: 30_000,
    });
    expect(bridge.leaseTtlMs).toBe(5000);
  });

  it("names the place of a mistake", () => {
    expect(() =>
      section(`
bridge:
  links:
    bad:
      upstream: { kind: rabbitmq, url: "http://x", queue: q }
      downstream: { kind: kafka, url: "x" }
      prefetch: 0
`),
    ).toThrow(
      /bridge\.links\.bad\.upstream\.url: an AMQP URL[\s\S]*bridge\.links\.bad\.downstream\.kind[\s\S]*bridge\.links\.bad\.prefetch/,
    );
    expect(() => section("bridge:\n  links:\n    'a.b': {}\n")).toThrow(/letters, digits/);
    expect(() =>
      section(
        "bridge:\n  links:\n    x:\n      upstream: { kind: rabbitmq, url: 'amqp://h' }\n      downstream: { kind: nats, url: 'nats://h' }\n",
      ),
    ).toThrow(/either exchange \(with bindings\) or queue/);
  });

  it("refuses URLs, subjects and delays that cannot work, at their place", () => {
    const link = (fields: string) =>
      section(`
bridge:
  links:
    x:
      upstream: { kind: nats, url: "nats://127.0.0.1:4222", subjects: ["a.>"] }
      downstream: { kind: nats, url: "nats://127.0.0.1:4223" }
${fields}`);
    expect(() => link("      reconnectDelayMs: 10")).toThrow(
      /bridge\.links\.x\.reconnectDelayMs: at least 100 ms/,
    );
    expect(() =>
      section(`
bridge:
  links:
    x:
      upstream: { kind: nats, url: "nats://h:99999", subjects: ["a.>", "a.b"] }
      downstream: { kind: nats, url: "h:4222", subjectPrefix: "p.>" }
`),
    ).toThrow(
      /upstream\.url: "nats:\/\/h:99999" is not a server URL[\s\S]*upstream\.subjects\.1: "a\.b" overlaps "a\.>"[\s\S]*downstream\.subjectPrefix/,
    );
  });
});

describe("broker URLs", () => {
  it("takes NATS servers as nats://, tls:// or host:port, several separated by commas", () => {
    expect(natsUrlProblem("nats://127.0.0.1:4222")).toBeUndefined();
    expect(natsUrlProblem("tls://a.example:4443, nats://u:p@b.example")).toBeUndefined();
    expect(natsUrlProblem("localhost:4222")).toBeUndefined();
    expect(natsUrlProblem("")).toMatch(/give the server URL/);
    expect(natsUrlProblem("not a url")).toMatch(/not a server URL/);
    expect(natsUrlProblem("http://h:4222")).toMatch(/nats:\/\/ or tls:\/\/, not http:\/\//);
    expect(natsUrlProblem("nats://h:0")).toMatch(/port 0/);
    expect(natsUrlProblem("nats://h:65536")).toMatch(/not a server URL/);
    expect(natsUrlProblem("nats://")).toMatch(/not a server URL/);
    expect(natsUrlProblem("nats://a:1,,nats://b:2")).toMatch(/empty server/);
    expect(natsUrlProblem("nats://h:4222/path")).toMatch(/no path/);
  });

  it("takes AMQP URLs with a host and at most a vhost for a path", () => {
    expect(amqpUrlProblem("amqp://guest:guest@127.0.0.1:5672")).toBeUndefined();
    expect(amqpUrlProblem("amqps://h/shop?heartbeat=5")).toBeUndefined();
    expect(amqpUrlProblem("amqp://h/%2F")).toBeUndefined();
    expect(amqpUrlProblem("http://h")).toMatch(/amqp:\/\/ or amqps:\/\//);
    expect(amqpUrlProblem("amqp://")).toMatch(/names no host/);
    expect(amqpUrlProblem("amqp://h/a/b")).toMatch(/one segment/);
  });
});

describe("subject rules", () => {
  it("takes wildcards as whole words, '>' only last, and no server subjects", () => {
    expect(filterSubjectProblem("orders.*.>")).toBeUndefined();
    expect(filterSubjectProblem(">")).toBeUndefined();
    expect(filterSubjectProblem("a.>.b")).toMatch(/last word/);
    expect(filterSubjectProblem("a.b*")).toMatch(/whole words/);
    expect(filterSubjectProblem("a..b")).toMatch(/empty words/);
    expect(filterSubjectProblem("a b")).toMatch(/no spaces/);
    expect(filterSubjectProblem("a\u0000b")).toMatch(/control characters/);
    expect(filterSubjectProblem("$KV.bucket.>")).toMatch(/belong to the server/);
    expect(filterSubjectProblem("x".repeat(2000))).toMatch(/at most 1024/);
    expect(publishSubjectProblem("rabbit.in")).toBeUndefined();
    expect(publishSubjectProblem("rabbit.*")).toMatch(/no '\*' or '>'/);
  });

  it("finds subjects one stream could not hold together", () => {
    expect(filtersOverlap("a.>", "a.b.c")).toBe(true);
    expect(filtersOverlap("a.*", "*.b")).toBe(true);
    expect(filtersOverlap("a", "a.>")).toBe(false); // '>' needs a word
    expect(filtersOverlap("a.*", "a.b.c")).toBe(false);
    expect(filterListProblems(["a.x", "b.>", "a.*", "b.c", "b.>"])).toEqual([
      [2, '"a.*" overlaps "a.x": one stream cannot hold both'],
      [3, '"b.c" overlaps "b.>": one stream cannot hold both'],
      [4, '"b.>" is listed twice'],
    ]);
  });
});

describe("reconnect backoff", () => {
  const policy = { reconnectDelayMs: 100, maxReconnectDelayMs: 1000 };

  it("doubles the wait with each failure in a row, up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => reconnectDelay(policy, n))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    // A cap below the first wait: the first wait throughout.
    expect(reconnectDelay({ reconnectDelayMs: 5000, maxReconnectDelayMs: 1000 }, 3)).toBe(5000);
  });

  it("spreads a wait over up to half of it again", () => {
    expect(withJitter(1000, 0)).toBe(1000);
    expect(withJitter(1000, 0.999)).toBe(1500);
  });
});

describe("rate-limiting repeated log lines", () => {
  it("writes a kind once per window, then says how many were left out", () => {
    const throttle = new LogThrottle({ windowMs: 1000, maxKinds: 10 });
    expect(throttle.admit("a", 0)).toEqual({ write: true, repeated: 0 });
    expect(throttle.admit("a", 10)).toEqual({ write: false });
    expect(throttle.admit("b", 20)).toEqual({ write: true, repeated: 0 });
    expect(throttle.admit("a", 999)).toEqual({ write: false });
    expect(throttle.admit("a", 1000)).toEqual({ write: true, repeated: 2 });
    expect(throttle.admit("a", 1500)).toEqual({ write: false });
  });

  it("remembers a bounded number of kinds, forgetting the least recently written", () => {
    const throttle = new LogThrottle({ windowMs: 1000, maxKinds: 2 });
    throttle.admit("a", 0);
    throttle.admit("b", 1);
    throttle.admit("c", 2);
    expect(throttle.size).toBe(2);
    expect(throttle.admit("a", 3)).toEqual({ write: true, repeated: 0 }); // forgotten
    expect(throttle.admit("c", 4)).toEqual({ write: false });
  });
});

describe("the link machine", () => {
  type Sent = (event: LinkEvent) => void;

  function start(openFails: number) {
    let opened = 0;
    let closed = 0;
    let send: Sent = () => {};
    const machine = linkMachine.provide({
      actors: {
        openSession: fromPromise(async () => {
          opened++;
          if (opened <= openFails) throw new Error("connection refused");
          return { id: opened } as unknown;
        }),
        runSession: fromCallback(({ sendBack }) => {
          send = sendBack as Sent;
        }),
        closeSession: fromPromise(async () => {
          closed++;
        }),
      },
      delays: { reconnectDelay: 5 },
    });
    const actor = createActor(machine, {
      input: {
        link: "l",
        reconnectDelayMs: 5,
        maxReconnectDelayMs: 5,
        stallAfterMs: 1000,
        tickMs: 100,
      },
    });
    const seen: string[] = [];
    actor.subscribe((s) => {
      const status = statusOf(s.value);
      if (seen.at(-1) !== status) seen.push(status);
    });
    actor.start();
    return {
      actor,
      seen,
      send: (e: Parameters<Sent>[0]) => send(e),
      counts: () => ({ opened, closed }),
    };
  }

  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(check()).toBe(true);
  };

  it("retries a failed connect after the delay and reports each status", async () => {
    const link = start(2);
    await until(() => link.seen.at(-1) === "connected");
    expect(link.seen).toEqual([
      "starting",
      "connecting",
      "connect_failed",
      "connecting",
      "connect_failed",
      "connecting",
      "connected",
    ]);
    link.send({ type: "DOWNSTREAM_DOWN", reason: "gone" });
    expect(link.actor.getSnapshot().context.reason).toBe("gone");
    link.send({ type: "DOWNSTREAM_UP" });
    link.send({ type: "UPSTREAM_DOWN", reason: "up gone" });
    link.send({ type: "UPSTREAM_UP" });
    expect(link.seen.slice(-4)).toEqual([
      "downstream_down",
      "connected",
      "upstream_down",
      "connected",
    ]);
    link.actor.send({ type: "STOP" });
    await until(() => link.actor.getSnapshot().status === "done");
    expect(link.seen.slice(-2)).toEqual(["shutting_down", "stopped"]);
    expect(link.counts().closed).toBe(1);
  });

  it("reports a link with lag and no progress as stalled, on a simulated clock, and restarts it", async () => {
    const link = start(0);
    await until(() => link.seen.at(-1) === "connected");
    link.send({ type: "TICK", lag: 10, forwarded: 0, now: 10_000 });
    link.send({ type: "TICK", lag: 10, forwarded: 5, now: 10_500 });
    link.send({ type: "TICK", lag: 10, forwarded: 5, now: 11_400 });
    expect(link.seen.at(-1)).toBe("connected");
    link.send({ type: "TICK", lag: 10, forwarded: 5, now: 11_500 });
    expect(link.seen.at(-1)).toBe("stalled");
    await until(() => link.seen.at(-1) === "connected" && link.counts().opened === 2);
    expect(link.actor.getSnapshot().context.restarts).toBe(1);
    link.actor.send({ type: "STOP" });
  });

  it("backs off on a simulated clock while failing, and starts over once a session ran", async () => {
    const clock = new SimulatedClock();
    let refusing = true;
    let opened = 0;
    let send: Sent = () => {};
    const machine = linkMachine.provide({
      actors: {
        openSession: fromPromise(async () => {
          opened++;
          if (refusing) throw new Error("connection refused");
          return {} as unknown;
        }),
        runSession: fromCallback(({ sendBack }) => {
          send = sendBack as Sent;
        }),
      },
    });
    const actor = createActor(machine, {
      clock,
      input: {
        link: "l",
        reconnectDelayMs: 100,
        maxReconnectDelayMs: 400,
        stallAfterMs: 1000,
        tickMs: 100,
      },
    });
    const advance = async (ms: number) => {
      clock.increment(ms);
      for (let i = 0; i < 10; i++) await Promise.resolve(); // let the session actors settle
    };
    actor.start();
    await advance(0);
    const opensAt: number[] = [];
    for (let t = 1; t <= 1500; t++) {
      const before = opened;
      await advance(1);
      if (opened > before) opensAt.push(t);
    }
    // Waits of 100, 200, 400, then the cap: 400.
    expect(opensAt).toEqual([100, 300, 700, 1100, 1500]);

    refusing = false;
    await advance(400);
    expect(statusOf(actor.getSnapshot().value)).toBe("connected");
    send({ type: "TICK", lag: 0, forwarded: 0, now: clock.now() });
    send({ type: "SESSION_FAILED", reason: "channel closed" });
    const failedAt = opened;
    await advance(99);
    expect(opened).toBe(failedAt);
    await advance(1); // back to the first wait
    expect(opened).toBe(failedAt + 1);
    actor.send({ type: "STOP" });
  });

  it("goes on after a failed session: disconnected, then connecting again", async () => {
    const link = start(0);
    await until(() => link.seen.at(-1) === "connected");
    link.send({ type: "SESSION_FAILED", reason: "channel closed" });
    await until(() => link.counts().opened === 2 && link.seen.at(-1) === "connected");
    expect(link.seen.slice(-3)).toEqual(["disconnected", "connecting", "connected"]);
    link.actor.send({ type: "STOP" });
  });
});

describe("acknowledging AMQP deliveries in runs", () => {
  it("acknowledges up to the last acknowledged delivery of the settled run from the oldest", () => {
    const runs = new AckRuns();
    for (let tag = 1; tag <= 6; tag++) runs.delivered(tag);
    runs.settle(2, true);
    expect(runs.take()).toBeUndefined(); // 1 is still out
    runs.settle(1, true);
    runs.settle(3, false); // given back on its own
    runs.settle(5, true);
    expect(runs.take()).toBe(2); // 1..3 settled; 3 was a nack, so the run acks up to 2
    runs.settle(4, true);
    expect(runs.take()).toBe(5);
    runs.settle(6, false);
    expect(runs.take()).toBeUndefined();
    runs.delivered(7);
    runs.settle(7, true);
    expect(runs.take()).toBe(7);
  });
});

describe("sharing links between workers", () => {
  const links = ["a", "b", "c", "d", "e", "f", "g", "h"];
  const plan = (over: Partial<Parameters<typeof planShare>[0]>) =>
    planShare({
      known: links,
      owned: [],
      leased: new Set(),
      workers: 1,
      unleasedSince: new Map(),
      now: 10_000,
      leaseTtlMs: 5000,
      ...over,
    });

  it("takes every link alone, and half of them beside a second worker", () => {
    expect(plan({}).acquire).toEqual(links);
    expect(plan({ workers: 2 })).toEqual({ share: 4, acquire: ["a", "b", "c", "d"], excess: [] });
  });

  it("hands the last links by name over to a worker that joined", () => {
    const all = plan({ owned: links, leased: new Set(links), workers: 2 });
    expect(all.excess).toEqual(["e", "f", "g", "h"]);
    expect(all.acquire).toEqual([]);
    // The other worker takes what is unleased, up to its share, never what is held.
    const other = plan({
      owned: [],
      leased: new Set(["a", "b", "c", "d", "e"]),
      workers: 2,
    });
    expect(other.acquire).toEqual(["f", "g", "h"]);
  });

  it("keeps an uneven remainder and gives nothing up alone", () => {
    expect(plan({ owned: links, leased: new Set(links) }).excess).toEqual([]);
    expect(plan({ known: ["a", "b", "c"], owned: ["a", "b"], workers: 2 }).excess).toEqual([]);
  });

  it("takes a link nobody held for a lease lifetime, whatever its share", () => {
    const held = ["a", "b", "c", "d"];
    const since = new Map([
      ["e", 4000],
      ["f", 9000],
    ]);
    const full = plan({ owned: held, leased: new Set(held), workers: 2, unleasedSince: since });
    expect(full.acquire).toEqual(["e"]);
  });
});
