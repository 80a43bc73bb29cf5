/**
 * Request/reply through the runtime — codec, validation, an actor per request, hop spans, the
 * deadline — against raw nats.js request/reply, in the same process and on the same server, with
 * 1 and 64 requests in flight; once with tracing off and once with tracing on (always-on
 * sampling, every span exported over OTLP/HTTP). Prints throughput ratios and p50/p99 latencies.
 *
 * The OTLP receiver runs in a child process, as a collector (Jaeger) runs beside a worker: the
 * runtime pays for making, batching, serialising and sending spans, not for decoding them.
 *
 *   scripts/run.sh pnpm bench            (BENCH_SECONDS=3 per run by default)
 */

import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import {
  createLogger,
  EntenteClient,
  endpoint,
  HostedService,
  loadConfig,
  perRequestActor,
  type ServiceDefinition,
  startTracing,
} from "@entente/runtime";
import { startNatsServer, startOtlpReceiver } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { setup } from "xstate";
import { z } from "zod";
import { formatRow, HEADER, type RunResult, summarize } from "./stats.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
/** Each run is cut into this many turns, taken in rotation with the runs it is compared with. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAYLOAD = new Uint8Array(1024).fill(7);
const IN_FLIGHT = [1, 64];

interface Measured {
  latencies: number[];
  seconds: number;
}

/** Keeps `inFlight` calls going for `seconds`, recording each call's latency. */
async function measure(
  inFlight: number,
  seconds: number,
  call: () => Promise<unknown>,
): Promise<Measured> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const started = performance.now();
      await call();
      latencies.push(performance.now() - started);
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: inFlight }, loop));
  return { latencies, seconds: (performance.now() - began) / 1000 };
}

/**
 * Runs each call for SECONDS in all, in ROUNDS turns taken in rotation, so a change in the
 * machine's load (other processes, a GC-heavy moment) falls on every contender alike.
 */
async function compare(
  inFlight: number,
  contenders: Array<{ label: string; call: () => Promise<unknown> }>,
): Promise<RunResult[]> {
  const totals: Measured[] = contenders.map(() => ({ latencies: [], seconds: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, { call }] of contenders.entries()) {
      const run = await measure(inFlight, SECONDS / ROUNDS, call);
      const total = totals[i]!;
      for (const latency of run.latencies) total.latencies.push(latency);
      total.seconds += run.seconds;
    }
  }
  return contenders.map(({ label }, i) =>
    summarize(label, inFlight, totals[i]!.latencies, totals[i]!.seconds),
  );
}

interface Echo {
  seq: number;
  payload: Uint8Array;
}

/** The smallest real actor: takes the request as input and ends with it as output. */
const echoMachine = setup({
  types: { input: {} as Echo, context: {} as Echo, output: {} as Echo },
}).createMachine({
  context: ({ input }) => input,
  initial: "done",
  states: { done: { type: "final" } },
  output: ({ context }) => context,
});

const benchService: ServiceDefinition = {
  name: "bench",
  version: "0.1.0",
  description: "request/reply benchmark",
  start: () => ({
    endpoints: [
      endpoint({
        name: "echo",
        subject: "bench.runtime",
        schema: z.object({ seq: z.number().int(), payload: z.instanceof(Uint8Array) }),
        handler: perRequestActor(echoMachine, { input: (request: Echo) => request }),
      }),
    ],
  }),
};

/** The collector's side: prints its URL, then the spans it received once stdin closes. */
async function collector(): Promise<void> {
  const receiver = await startOtlpReceiver();
  console.log(receiver.tracesUrl);
  process.stdin.resume();
  await once(process.stdin, "end");
  console.log(receiver.spans().length);
  await receiver.close();
}

interface Collector {
  tracesUrl: string;
  /** Stops the collector; resolves with the number of spans it received. */
  close(): Promise<number>;
}

async function startCollector(): Promise<Collector> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, import.meta.filename, "--collector"],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const tracesUrl = (await lines.next()).value as string;
  return {
    tracesUrl,
    async close() {
      child.stdin.end();
      const spans = Number((await lines.next()).value);
      await once(child, "exit");
      return spans;
    },
  };
}

async function main(): Promise<void> {
  const server = await startNatsServer({ jetstream: false });
  const receiver = await startCollector();
  const connections: NatsConnection[] = [];
  const open = async (noAsyncTraces: boolean) => {
    const nc = await connect({ servers: server.url, noAsyncTraces });
    connections.push(nc);
    return nc;
  };

  // Raw nats.js: a queue subscription that answers with the request's bytes.
  const rawServer = await open(true);
  rawServer.subscribe("bench.raw", {
    queue: "bench",
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  const rawDefault = await open(false);
  const rawFast = await open(true);

  // The runtime: one hosted service, one client, each on its own connection like raw.
  const config = loadConfig({ text: "log:\n  level: warn\n", env: { NATS_URL: server.url } });
  const serviceConnection = await open(true);
  const logger = createLogger({ service: "bench", level: "warn" });
  const hosted = await HostedService.start(benchService, {
    nc: serviceConnection,
    config,
    client: new EntenteClient(serviceConnection),
    logger,
  });
  const client = new EntenteClient(await open(true));
  await rawServer.flush();

  let seq = 0;
  const raw = (nc: NatsConnection) => () => nc.request("bench.raw", PAYLOAD, { timeout: 10_000 });
  const runtime = () =>
    client.request("bench.runtime", { seq: seq++, payload: PAYLOAD }, { timeoutMs: 10_000 });

  // Warm up every path so JIT and connections are settled before measuring.
  for (const call of [raw(rawDefault), raw(rawFast), runtime]) await measure(16, 0.5, call);

  const rows: string[] = [];
  const ratios: string[] = [];
  for (const tracingOn of [false, true]) {
    const tracing = tracingOn
      ? await startTracing({ serviceName: "bench", exporter: receiver.tracesUrl })
      : undefined;
    if (tracingOn) await measure(16, 0.5, runtime);
    for (const inFlight of IN_FLIGHT) {
      const [baseDefault, baseFast, ours] = (await compare(inFlight, [
        { label: "raw nats.js (default options)", call: raw(rawDefault) },
        { label: "raw nats.js (noAsyncTraces)", call: raw(rawFast) },
        { label: `runtime, tracing ${tracingOn ? "on" : "off"}`, call: runtime },
      ])) as [RunResult, RunResult, RunResult];
      rows.push(formatRow(baseDefault), formatRow(baseFast), formatRow(ours, baseDefault));
      ratios.push(
        `tracing ${tracingOn ? "on " : "off"}, ${String(inFlight).padStart(2)} in flight: ` +
          `runtime/raw(default) = ${(ours.perSecond / baseDefault.perSecond).toFixed(2)}x, ` +
          `runtime/raw(noAsyncTraces) = ${(ours.perSecond / baseFast.perSecond).toFixed(2)}x`,
      );
    }
    await tracing?.forceFlush();
    await tracing?.shutdown();
  }

  console.log(
    `\n1 KiB request/reply, ${SECONDS} s per run in ${ROUNDS} turns, one process, nats-server ${server.url}\n`,
  );
  console.log(HEADER);
  for (const row of rows) console.log(row);
  console.log(`\n${ratios.join("\n")}`);
  console.log(
    `(targets: >= 0.90x with tracing off, >= 0.50x with tracing on; spans received: ${await receiver.close()})`,
  );

  await hosted.stop(1_000);
  for (const nc of connections) await nc.close();
  await server.stop();
}

if (process.argv.includes("--collector")) await collector();
else await main();
