/**
 * Five real regions on loopback, each its own nats-server, in a line: r1 (root) ← r2 ← r3 ← r4
 * ← r5. The same request (diagnostics echo, 1 KiB) is sent in r1 directly and from r2..r5
 * routed to r1, so it crosses 1..4 relay hops; sequential requests, medians, all in one run.
 * The added latency per relay hop is (routed − direct) / hops.
 */
import { diagnosticsService } from "@entente/diagnostics";
import { SUBJECTS } from "@entente/protocol";
import { regionRouterService } from "@entente/region-router";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { percentile } from "./stats.ts";

const REQUESTS = Number(process.env.BENCH_RELAY_REQUESTS ?? 2000);
const PAYLOAD = "x".repeat(1024);

interface Region {
  id: number;
  nats: NatsServer;
  hosted: HostedService[];
  nc: NatsConnection;
  client: EntenteClient;
}

async function startRegion(id: number, rootUrl: string | undefined): Promise<Region> {
  const nats = await startNatsServer();
  const router = [
    "probeIdleMs: 500, advertiseEveryMs: 1000, shortcutEveryMs: 3600000",
    ...(rootUrl ? [`join: "${rootUrl}"`] : []),
  ].join(", ");
  const parent = id > 1 ? `, parent: r${id - 1}` : "";
  const config = loadConfig({
    text: `region: { name: r${id}, id: ${id}${parent} }\nlog: { level: silent }\nregionRouter: { ${router} }\n`,
    env: { NATS_URL: nats.url },
  });
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const logger = createLogger({ service: `r${id}`, level: "silent" });
  const hosted: HostedService[] = [];
  for (const service of [regionRouterService, diagnosticsService]) {
    hosted.push(
      await HostedService.start(service, {
        nc,
        config,
        client: new EntenteClient(nc, { region: `r${id}` }),
        logger,
      }),
    );
  }
  const clientNc = await connect({ servers: nats.url, noAsyncTraces: true });
  return {
    id,
    nats,
    hosted,
    nc: clientNc,
    client: new EntenteClient(clientNc, { region: `r${id}`, regionId: id }),
  };
}

async function medianMs(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await run(); // warm up connections, JIT and link estimates
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

/** Prints the relay figures; the caller's process stays free of the regions afterwards. */
export async function benchRelayHops(): Promise<void> {
  const regions: Region[] = [];
  try {
    const root = await startRegion(1, undefined);
    regions.push(root);
    for (let id = 2; id <= 5; id++) regions.push(await startRegion(id, root.nats.url));
    // Every region reaches the root once the line has joined and advertised.
    for (const region of regions.slice(1)) {
      for (let tries = 0; ; tries++) {
        try {
          await region.client.request(
            SUBJECTS.diagnostics.echo,
            { payload: 1 },
            { region: 1, timeoutMs: 500 },
          );
          break;
        } catch (err) {
          if (tries > 300) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    const echo = (region: Region, routed: boolean) => () =>
      region.client.request(
        SUBJECTS.diagnostics.echo,
        { payload: PAYLOAD },
        routed ? { region: 1 } : {},
      );
    const direct = await medianMs(echo(root, false));
    console.log();
    console.log(
      `relay hops on loopback: 5 regions in a line, ${REQUESTS} sequential 1 KiB echoes each`,
    );
    console.log("from      relay hops  median ms  added per hop ms  target");
    console.log(`r1 direct          0  ${direct.toFixed(3).padStart(9)}`);
    for (const region of regions.slice(1)) {
      const hops = region.id - 1;
      const routed = await medianMs(echo(region, true));
      const perHop = (routed - direct) / hops;
      console.log(
        `r${region.id} → r1   ${String(hops).padStart(10)}  ${routed.toFixed(3).padStart(9)}  ${perHop.toFixed(3).padStart(16)}  < 0.3 ms ${perHop < 0.3 ? "met" : "NOT MET"}`,
      );
    }
  } finally {
    for (const region of regions.reverse()) {
      await region.nc.close();
      for (const service of region.hosted.reverse()) await service.stop(1_000);
      await region.nats.stop();
    }
  }
}
