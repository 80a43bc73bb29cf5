/**
 * Three regions: a is the root, b and c its children. a reaches c through a proxy that delays
 * each direction by 40 ms; b reaches c through one that delays nothing (for now); every other
 * link is direct. b opens a shortcut to c (its tree route to c crosses the slow link) and c
 * links back, so requests from a to c take b as a relay. When b's services stop, a's link to b
 * goes down and a sends to c directly, and requests sent with a retry policy meanwhile all
 * answer; when b is back, so is the relay. When b's way to c turns slow, b drops its shortcut
 * and c, no longer asked for it, drops its link back.
 */
import { type LinksReply, type RouteReply, SUBJECTS, type WorkerInfo } from "@entente/protocol";
import {
  type DelayProxy,
  type NatsServer,
  startDelayProxy,
  startNatsServer,
} from "@entente/testkit";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, routed, startRegion, type TestRegion } from "./regions.ts";

const ONE_WAY_DELAY_MS = 40;
const FAST_PROBES =
  "probeIdleMs: 300, probeTimeoutMs: 1000, missedProbesForDown: 2, advertiseEveryMs: 500, " +
  "advertMaxAgeMs: 6000";
const SETTINGS = `${FAST_PROBES}, shortcutEveryMs: 300`;
// c tries no shortcuts of its own: its links to b are b's doing alone.
const C_SETTINGS = `${FAST_PROBES}, shortcutEveryMs: 600000`;

describe("a relay chosen by cost, and failover to the direct link", () => {
  let cServer: NatsServer;
  let slow: DelayProxy;
  let bToC: DelayProxy;
  let a: TestRegion;
  let b: TestRegion;
  let c: TestRegion;
  const started: TestRegion[] = [];

  beforeAll(async () => {
    cServer = await startNatsServer();
    slow = await startDelayProxy({ target: cServer.url, delayMs: ONE_WAY_DELAY_MS });
    bToC = await startDelayProxy({ target: cServer.url, delayMs: 0 });
    a = await startRegion({
      name: "a",
      id: 1,
      settings: SETTINGS,
      dial: { [cServer.url]: slow.url },
    });
    started.push(a);
    b = await startRegion({
      name: "b",
      id: 2,
      parent: "a",
      join: a.nats.url,
      settings: SETTINGS,
      dial: { [cServer.url]: bToC.url },
    });
    started.push(b);
    c = await startRegion({
      name: "c",
      id: 3,
      parent: "a",
      join: a.nats.url,
      settings: C_SETTINGS,
      nats: cServer,
    });
    started.push(c);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(started.map((r) => r.stop()));
    await slow?.close();
    await bToC?.close();
    await cServer?.stop();
  });

  const routeFromA = () => a.client.request<RouteReply>(SUBJECTS.router.route, { to: "c" });
  const linksOf = async (region: TestRegion) =>
    (await region.client.request<LinksReply>(SUBJECTS.router.links, {})).links.map((l) => l.to);

  it("relays a's requests to c through b, around the slow direct link", async () => {
    const route = await eventually("route a → b → c", async () => {
      const r = await routeFromA();
      return r.path.join() === "1,2,3" ? r : undefined;
    });
    expect(route.reachable).toBe(true);
    // The direct link is a real, open link: slower than the two fast hops together.
    const links = await a.client.request<LinksReply>(SUBJECTS.router.links, {});
    const direct = links.links.find((l) => l.to === 3);
    expect(direct?.up).toBe(true);
    expect(direct?.latencyMs).toBeGreaterThanOrEqual(2 * ONE_WAY_DELAY_MS);
    expect(route.cost).toBeLessThan(direct?.cost ?? 0);

    const info = await a.client.request<WorkerInfo>(routed("c", SUBJECTS.diagnostics.info), {});
    expect(info.region).toBe("c");
    // b's router counted it as forwarded (its `$SRV.STATS`).
    const stats = await b.clientNc.request("$SRV.STATS.region-router", undefined, {
      timeout: 2_000,
    });
    expect(stats.string()).toMatch(/"forwarded":[1-9]/);
  }, 40_000);

  it("moves to the direct link when b stops, losing no request sent with retries", async () => {
    const answered: Array<Promise<WorkerInfo>> = [];
    let sending = true;
    const sender = (async () => {
      while (sending) {
        answered.push(
          a.client.request<WorkerInfo>(
            routed("c", SUBJECTS.diagnostics.info),
            {},
            {
              timeoutMs: 5_000,
              retry: { attempts: 6, attemptTimeoutMs: 1_000, backoffMs: 100 },
            },
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, 500));
    await b.stopServices();
    // Bound: a notices b is gone once its link to b is idle for probeIdleMs (300 ms) and
    // missedProbesForDown (2) probes fail: each at once (b's server answers "no responders" for
    // its absent router) or at worst after probeTimeoutMs (1 s); a then re-advertises and
    // recomputes at once. At most 300 + 2 × 1000 ms = 2.3 s; measured 0.33–0.53 s. 10 s bounds
    // it on a busy machine.
    await eventually(
      "route a → c direct",
      async () => {
        const r = await routeFromA();
        return r.path.join() === "1,3" ? r : undefined;
      },
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    sending = false;
    await sender;

    const results = await Promise.allSettled(answered);
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.length).toBeGreaterThan(10);
    for (const r of results)
      expect((r as PromiseFulfilledResult<WorkerInfo>).value.region).toBe("c");

    // Over the slow direct link (40 ms each way), a's relay takes the transit off the budget
    // it passes on, so c's deadline is the caller's, not 40 ms later.
    const budgets = c.clientNc.subscribe("test.budget", {
      callback: (_err, msg) => {
        msg.respond(msg.headers?.get("entente-timeout-ms") ?? "");
      },
    });
    await c.clientNc.flush();
    const seen = await a.clientNc.request(routed("c", "test.budget"), undefined, {
      timeout: 5_000,
      headers: budgetHeaders(5_000),
    });
    budgets.unsubscribe();
    expect(Number(seen.string())).toBeLessThanOrEqual(5_000 - 20);
    expect(Number(seen.string())).toBeGreaterThan(0);
  }, 40_000);

  it("relays through b again once b's services are back", async () => {
    await b.startServices();
    // b rejoins from its stored registry, links to a and c, tries its shortcut (first tick,
    // 1 s) and c links back: a few seconds; 15 s bounds it.
    await eventually(
      "route a → b → c again",
      async () => ((await routeFromA()).path.join() === "1,2,3" ? true : undefined),
      15_000,
    );
    const info = await a.client.request<WorkerInfo>(routed("c", SUBJECTS.diagnostics.info), {});
    expect(info.region).toBe("c");
  }, 30_000);

  it("drops the shortcut when it stops paying, and the link back goes with it", async () => {
    expect(await linksOf(b)).toContain(3);
    expect(await linksOf(c)).toContain(2);
    // b → c now costs far more than b's tree route through a (1 + ~82 ms): far enough that a
    // measurement of the tree route slowed by a busy machine does not make a new trial of c
    // (every 300 ms) look worth its link again.
    bToC.setDelay(300);
    // b's next probe of the idle link measures ~600 ms; its next shortcut review (every tick)
    // drops the link; c's link back lapses advertMaxAgeMs (6 s) after b last asked for it,
    // and closes on c's next tick: about 8 s on a quiet machine; 40 s bounds it on a busy one.
    await eventually(
      "no link between b and c",
      async () =>
        !(await linksOf(b)).includes(3) && !(await linksOf(c)).includes(2) ? true : undefined,
      40_000,
    );
    expect((await routeFromA()).path).toEqual([1, 3]);
    // And it stays so: neither end brings the other's link back.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await linksOf(b)).not.toContain(3);
    expect(await linksOf(c)).not.toContain(2);
  }, 60_000);
});

function budgetHeaders(ms: number) {
  const h = natsHeaders();
  h.set("entente-timeout-ms", String(ms));
  return h;
}
