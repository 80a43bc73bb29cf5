/**
 * The broker bridge against its baselines, in the same run: 200,000 messages of 1 KiB
 * NATS→NATS through a link (JetStream buffer upstream, JetStream stream downstream) against
 * three pipelined loops carrying the same messages from a durable pull consumer on A to a
 * stream on B, acking each upstream message when its PubAck arrives — the documented nats.js
 * API with default options, the same with `noAsyncTraces`, and core publishes whose PubAcks are
 * matched by hand — and the NATS server's own stream sourcing as the physical reference. The
 * link and the hand-matched loop run BENCH_ROUNDS times (3) alternately and their medians are
 * compared. Eight links over eight streams carried by one worker process against two workers
 * sharing the same configuration. RabbitMQ→NATS and NATS→RabbitMQ through links against
 * RabbitMQ's federation plugin between two vhosts, all timed from the first publish to the last
 * arrival; the RabbitMQ→NATS link's drain rate of an already filled buffer is printed as well.
 * Every run checks that each message arrived exactly once. Prints messages per second, CPU time
 * per message of the process carrying them, and the ratios. Exits non-zero when a scenario,
 * RabbitMQ's federation plugin included, cannot run.
 *
 *   node --conditions=@entente/source test/bench/bridge.bench.ts
 *   BENCH_MESSAGES=50000 ENTENTE_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 …
 */
import { rabbitmq } from "@entente/testkit";
import {
  bridgeFanOut,
  bridgeNatsToNats,
  bridgeNatsToRabbit,
  bridgeRabbitToNats,
  type LoopKind,
  pipelinedLoop,
  type Result,
  rabbitFederation,
  streamSourcing,
} from "../../services/broker-bridge/test/bench-scenarios.ts";

const COUNT = Number(process.env.BENCH_MESSAGES ?? 200_000);
const SIZE = Number(process.env.BENCH_MESSAGE_BYTES ?? 1024);
/** Runs of the link and of the hand-matched loop, alternating. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
/** A subset of nats, loop, sourcing, scale, rabbit, rabbit-out, federation; all by default. */
const ONLY = new Set(
  (process.env.BENCH_SCENARIOS ?? "nats,loop,sourcing,scale,rabbit,rabbit-out,federation").split(
    ",",
  ),
);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function line(r: Result): string {
  const cpu =
    r.cpuMicrosPerMessage === undefined ? "" : `  ${r.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg`;
  const note = r.note ? `  [${r.note}]` : "";
  return `${r.label.padEnd(52)} ${fmt(r.perSecond).padStart(10)} msgs/s  (${r.messages} in ${r.seconds.toFixed(2)} s)${cpu}${note}`;
}

/** The link's ratio to a baseline, with the target when there is one. */
function ratioLine(what: string, link: Result, baseline: Result, target?: number): string {
  const ratio = link.perSecond / baseline.perSecond;
  const verdict =
    target === undefined ? "" : `   target ≥ ${target}×: ${ratio >= target ? "met" : "NOT MET"}`;
  return `  ${what.padEnd(48)} ${ratio.toFixed(2)}×${verdict}`;
}

/** Longest one scenario may take: the benchmark fails rather than waits for ever. */
const STEP_TIMEOUT_MS = Number(process.env.BENCH_STEP_TIMEOUT_MS ?? Math.max(300_000, COUNT * 2));

async function step(what: () => Promise<Result>): Promise<Result> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`a scenario did not finish within ${STEP_TIMEOUT_MS / 1000} s`)),
      STEP_TIMEOUT_MS,
    );
  });
  try {
    const result = await Promise.race([what(), timeout]);
    console.log(line(result));
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** The run of median rate among runs of one scenario. */
function median(results: Result[]): Result {
  const sorted = [...results].sort((a, b) => a.perSecond - b.perSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Result;
}

async function natsScenarios(): Promise<string[]> {
  // The link and the hand-matched loop are close: run each ROUNDS times, alternating, so a
  // passing disturbance on the machine does not decide the ratio; the medians are compared.
  const links: Result[] = [];
  const handMatched: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (ONLY.has("nats")) links.push(await step(() => bridgeNatsToNats(COUNT, SIZE)));
    if (ONLY.has("loop"))
      handMatched.push(await step(() => pipelinedLoop(COUNT, SIZE, "hand-matched")));
  }
  const loops: Partial<Record<LoopKind, Result>> = {};
  if (handMatched.length > 0) loops["hand-matched"] = median(handMatched);
  if (ONLY.has("loop"))
    for (const kind of ["documented", "documented-no-async-traces"] as const)
      loops[kind] = await step(() => pipelinedLoop(COUNT, SIZE, kind));
  const sourcing = ONLY.has("sourcing") ? await step(() => streamSourcing(COUNT, SIZE)) : undefined;
  if (links.length === 0) return [];
  const link = median(links);
  if (ROUNDS > 1) {
    console.log(`medians of ${ROUNDS} runs:`);
    console.log(line(link));
    if (loops["hand-matched"]) console.log(line(loops["hand-matched"]));
  }
  const ratios: string[] = [];
  if (loops["hand-matched"])
    ratios.push(ratioLine("link / hand-matched loop (medians)", link, loops["hand-matched"], 1.0));
  if (loops.documented)
    ratios.push(ratioLine("link / documented-API loop", link, loops.documented, 1.5));
  if (loops["documented-no-async-traces"])
    ratios.push(
      ratioLine(
        "link / documented-API loop, noAsyncTraces",
        link,
        loops["documented-no-async-traces"],
      ),
    );
  if (sourcing) ratios.push(ratioLine("link / server stream sourcing", link, sourcing));
  return ratios;
}

async function scaleScenarios(): Promise<string[]> {
  if (!ONLY.has("scale")) return [];
  const one = await step(() => bridgeFanOut(COUNT, SIZE, 1));
  const two = await step(() => bridgeFanOut(COUNT, SIZE, 2));
  return [ratioLine("8 links: two workers / one worker", two, one, 1)];
}

async function rabbitScenarios(): Promise<string[]> {
  if (!["rabbit", "rabbit-out", "federation"].some((s) => ONLY.has(s))) return [];
  const rabbit = await rabbitmq();
  try {
    let link: Result | undefined;
    if (ONLY.has("rabbit")) {
      link = await step(() => bridgeRabbitToNats(rabbit.url, COUNT, SIZE));
      await step(() => bridgeRabbitToNats(rabbit.url, COUNT, SIZE, "drain"));
    }
    const linkOut = ONLY.has("rabbit-out")
      ? await step(() => bridgeNatsToRabbit(rabbit.url, COUNT, SIZE))
      : undefined;
    const federation = ONLY.has("federation")
      ? await step(() => rabbitFederation(rabbit.url, COUNT, SIZE))
      : undefined;
    if (!federation) return [];
    const ratios: string[] = [];
    if (link)
      ratios.push(ratioLine("RabbitMQ→NATS link / RabbitMQ federation", link, federation, 5));
    if (linkOut)
      ratios.push(ratioLine("NATS→RabbitMQ link / RabbitMQ federation", linkOut, federation));
    return ratios;
  } finally {
    await rabbit.stop();
  }
}

async function main(): Promise<void> {
  console.log(`broker bridge benchmark: ${COUNT} messages of ${SIZE} bytes each\n`);
  const ratios = [
    ...(await natsScenarios()),
    ...(await scaleScenarios()),
    ...(await rabbitScenarios()),
  ];
  console.log("\nratios");
  for (const r of ratios) console.log(r);
  console.log("\nevery run: exact count, no duplicates");
}

try {
  await main();
  process.exit(0);
} catch (error) {
  console.error(`\nbroker bridge benchmark failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
