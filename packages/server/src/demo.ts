/**
 * `entente demo regions`: several regions on one machine, each its own nats-server (its own
 * JetStream store) and its own `entente serve all` worker, joined into a tree by their region
 * routers. Prints what to try once every region sees every other; stops everything it started
 * on SIGINT or SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants, createWriteStream, type WriteStream } from "node:fs";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SUBJECTS } from "@entente/protocol";
import { connectNats, EntenteClient } from "@entente/runtime";
import { type Command, InvalidArgumentError } from "commander";

const HOST = "127.0.0.1";
/** What the demo reads of a region's RegionsReply. */
interface RegionsView {
  self: number;
  regions: Array<{ id: number; status: string; reachable: boolean }>;
}
export const MIN_DEMO_REGIONS = 3;
export const MAX_DEMO_REGIONS = 12;
/** Bound on everything coming up: servers, workers, and every region seeing every other. */
const START_TIMEOUT_MS = 120_000;
/** How long a worker may take to stop before it is killed. */
const WORKER_STOP_MS = 15_000;
const NATS_STOP_MS = 5_000;

export const NATS_SERVER_INSTALL =
  "install nats-server (https://github.com/nats-io/nats-server/releases, " +
  "`apt-get install nats-server`, `brew install nats-server`, or " +
  "`go install github.com/nats-io/nats-server/v2@latest`) and put it on PATH";

/** One region of the demo: who it is, where it hangs in the tree. */
export interface DemoRegion {
  name: string;
  id: number;
  /** Its parent's name; absent for the root. */
  parent?: string;
}

/**
 * The demo's regions: `demo-root` (id 1), then `demo-a`, `demo-b`, … in two branches, so a
 * request between branches, or to the end of one, is relayed: root ← a ← b, root ← c, then
 * d under b, e under c, f under d, …
 */
export function demoTopology(count: number): DemoRegion[] {
  if (!Number.isInteger(count) || count < MIN_DEMO_REGIONS || count > MAX_DEMO_REGIONS) {
    throw new Error(`a demo has ${MIN_DEMO_REGIONS} to ${MAX_DEMO_REGIONS} regions, not ${count}`);
  }
  const regions: DemoRegion[] = [{ name: "demo-root", id: 1 }];
  for (let i = 1; i < count; i++) {
    const name = `demo-${String.fromCharCode("a".charCodeAt(0) + i - 1)}`;
    // a and c hang under the root, b under a; from d on, each under the one two before it.
    const parent =
      i === 1 || i === 3 ? "demo-root" : (regions[i === 2 ? 1 : i - 2] as DemoRegion).name;
    regions.push({ name, id: i + 1, parent });
  }
  return regions;
}

/**
 * A region's configuration file: the worker runs with it, and `entente -c` it to talk to that
 * region. Probes and adverts are quicker than the defaults so the demo converges in seconds;
 * shortcut trials are off so requests keep taking the tree's relays.
 */
export function demoRegionConfig(
  region: DemoRegion,
  natsUrl: string,
  rootUrl: string | undefined,
): string {
  const router = [
    `url: "${natsUrl}"`,
    ...(rootUrl === undefined ? [] : [`join: "${rootUrl}"`]),
    "probeIdleMs: 1000",
    "probeTimeoutMs: 1000",
    "advertiseEveryMs: 2000",
    "advertMaxAgeMs: 10000",
    "shortcutEveryMs: 86400000",
  ];
  return [
    `# entente demo regions: region ${region.name} (id ${region.id})${region.parent ? `, under ${region.parent}` : ", the root"}.`,
    `#   entente -c <this file> regions`,
    `region: { name: ${region.name}, id: ${region.id}${region.parent ? `, parent: ${region.parent}` : ""} }`,
    `nats: { servers: ["${natsUrl}"] }`,
    `regionRouter: { ${router.join(", ")} }`,
    "log: { level: warn }",
    "",
  ].join("\n");
}

/** Finds nats-server on PATH or in the sbin directories, or says how to install it. */
export async function findNatsServer(path = process.env.PATH ?? ""): Promise<string> {
  const dirs = [...path.split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"].filter(Boolean);
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, "nats-server");
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `no nats-server found on PATH or in /usr/local/sbin, /usr/sbin, /sbin: ${NATS_SERVER_INSTALL}`,
  );
}

/** The flags that make this process resolve the workspace's sources (`--conditions=…`). */
export function conditionFlags(execArgv: readonly string[]): string[] {
  const flags: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    if (arg.startsWith("--conditions=") || (arg.startsWith("-C") && arg.length > 2)) {
      flags.push(arg);
    } else if ((arg === "--conditions" || arg === "-C") && i + 1 < execArgv.length) {
      flags.push(arg, execArgv[i + 1] as string);
      i++;
    }
  }
  return flags;
}

/** The environment of a child: the demo's own files say everything, no ENTENTE_* override. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("ENTENTE_") || key === "NATS_URL") continue;
    env[key] = value;
  }
  return env;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A process the demo started, its output going to a log file. */
class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly log: WriteStream;
  private tail = "";
  expectedExit = false;

  readonly name: string;
  readonly logFile: string;

  constructor(name: string, command: string, args: string[], logFile: string) {
    this.name = name;
    this.logFile = logFile;
    this.log = createWriteStream(logFile, { flags: "a" });
    // Its own process group: a Ctrl-C in the terminal reaches only the demo, which stops the
    // workers before their servers.
    this.proc = spawn(command, args, {
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const keep = (chunk: Buffer) => {
      // Output can still be read from the pipes after the process exited and the log ended.
      if (!this.log.writableEnded) this.log.write(chunk);
      this.tail = (this.tail + chunk.toString("utf8")).slice(-8192);
    };
    this.proc.stdout?.on("data", keep);
    this.proc.stderr?.on("data", keep);
    this.exited = new Promise((done) => {
      this.proc.once("exit", (code, signal) => {
        this.log.end();
        done(code ?? (signal ? -1 : null));
      });
      this.proc.once("error", (err) => {
        keep(Buffer.from(`${String(err)}\n`));
        this.log.end();
        done(-1);
      });
    });
  }

  get running(): boolean {
    return (
      this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid !== undefined
    );
  }

  output(): string {
    return this.tail;
  }

  /** Resolves when `line` appears in its output; rejects when it exits or `ms` pass first. */
  async waitFor(line: RegExp, ms: number, signal: AbortSignal): Promise<void> {
    const until = Date.now() + ms;
    while (!line.test(this.tail)) {
      if (!this.running) throw new Error(`${this.name} exited: ${lastLines(this.tail)}`);
      if (signal.aborted) throw new Error("stopped");
      if (Date.now() > until) throw new Error(`${this.name} did not start within ${ms} ms`);
      await sleep(50);
    }
  }

  /** Sends `signal`, waits up to `ms`, then kills it. */
  async stop(signal: NodeJS.Signals, ms: number): Promise<void> {
    this.expectedExit = true;
    if (!this.running) return;
    this.proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((done) => {
      timer = setTimeout(() => done("late"), ms);
    });
    const outcome = await Promise.race([this.exited, late]);
    // A pending timer would keep the demo from exiting once everything has stopped.
    clearTimeout(timer);
    if (outcome === "late" && this.running) {
      this.proc.kill("SIGKILL");
      await this.exited;
    }
  }
}

function lastLines(text: string, count = 10): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

interface StartedRegion extends DemoRegion {
  url: string;
  configFile: string;
  nats: Child;
  worker?: Child;
}

export interface DemoOptions {
  regions: number;
  dir?: string;
}

function regionCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < MIN_DEMO_REGIONS || n > MAX_DEMO_REGIONS) {
    throw new InvalidArgumentError(
      `expected a whole number from ${MIN_DEMO_REGIONS} to ${MAX_DEMO_REGIONS}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function registerDemoCommand(program: Command): void {
  const demo = program.command("demo").description("try Entente on this machine");
  demo
    .command("regions")
    .description(
      "start several regions here (each a nats-server and an `entente serve all` worker), " +
        "joined into a tree; Ctrl-C stops them all",
    )
    .option(
      "--regions <n>",
      `how many regions, ${MIN_DEMO_REGIONS} to ${MAX_DEMO_REGIONS}`,
      regionCount,
      4,
    )
    .option(
      "--dir <dir>",
      "keep configuration files, stores and logs here (default: a temp dir, removed at exit)",
    )
    .action(async (options: DemoOptions) => {
      await runRegionsDemo(options);
    });
}

/** Runs the demo until SIGINT or SIGTERM; everything started is stopped before it returns. */
export async function runRegionsDemo(options: DemoOptions): Promise<void> {
  const topology = demoTopology(options.regions);
  const binary = await findNatsServer();
  const ownDir = options.dir === undefined;
  const dir = ownDir
    ? await mkdtemp(join(tmpdir(), "entente-demo-"))
    : resolve(options.dir as string);
  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const started: StartedRegion[] = [];
  // Should the demo itself die, its children do not outlive it.
  const killAll = () => {
    for (const region of started) {
      for (const child of [region.worker, region.nats]) {
        if (child?.running) child.proc.kill("SIGKILL");
      }
    }
  };
  process.on("exit", killAll);
  let failure: unknown;
  try {
    await mkdir(join(dir, "logs"), { recursive: true });
    for (const region of topology) {
      // A fresh store for every run: a registry of an earlier run names other ports.
      await rm(join(dir, "stores", region.name), { recursive: true, force: true });
      await mkdir(join(dir, "stores", region.name), { recursive: true });
    }
    // Every start settles before going on, so a failed one leaves none running unrecorded.
    const servers = await Promise.allSettled(
      topology.map((region) => startNats(binary, region, dir, stopping.signal)),
    );
    for (const server of servers) if (server.status === "fulfilled") started.push(server.value);
    const failed = servers.find((server) => server.status === "rejected");
    if (failed) throw failed.reason;
    started.sort((a, b) => a.id - b.id);
    const root = started[0] as StartedRegion;
    for (const region of started) {
      await writeFile(
        region.configFile,
        demoRegionConfig(region, region.url, region === root ? undefined : root.url),
      );
    }
    for (const region of started) region.worker = startWorker(region, dir);
    await waitForTree(started, stopping.signal);
    process.stdout.write(summary(started, dir, ownDir));
    await new Promise<void>((done) => {
      if (stopping.signal.aborted) done();
      stopping.signal.addEventListener("abort", () => done(), { once: true });
      for (const region of started) {
        for (const child of [region.nats, region.worker]) {
          void child?.exited.then((code) => {
            if (!child.expectedExit && !stopping.signal.aborted) {
              process.stderr.write(
                `entente demo: ${child.name} exited (${code}); its log: ${child.logFile}\n`,
              );
            }
          });
        }
      }
    });
    process.stdout.write("stopping the demo's workers and nats-servers…\n");
  } catch (err) {
    failure = err;
  } finally {
    await Promise.all(started.map((r) => r.worker?.stop("SIGTERM", WORKER_STOP_MS)));
    await Promise.all(started.map((r) => r.nats.stop("SIGINT", NATS_STOP_MS)));
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", killAll);
    if (ownDir) await rm(dir, { recursive: true, force: true });
  }
  if (failure !== undefined && !(stopping.signal.aborted && String(failure).includes("stopped"))) {
    throw failure;
  }
  process.stdout.write(ownDir ? `stopped; removed ${dir}\n` : `stopped; files kept in ${dir}\n`);
}

async function startNats(
  binary: string,
  region: DemoRegion,
  dir: string,
  signal: AbortSignal,
): Promise<StartedRegion> {
  // A port found free can be taken before the server binds it: try another one then.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const nats = new Child(
      `nats-server of ${region.name}`,
      binary,
      [
        "-a",
        HOST,
        "-p",
        String(port),
        "-n",
        region.name,
        "-js",
        "-sd",
        join(dir, "stores", region.name),
      ],
      join(dir, "logs", `${region.name}-nats.log`),
    );
    try {
      await nats.waitFor(/Server is ready/, 15_000, signal);
      return {
        ...region,
        url: `nats://${HOST}:${port}`,
        configFile: join(dir, `${region.name}.yaml`),
        nats,
      };
    } catch (err) {
      await nats.stop("SIGKILL", 1_000);
      if (attempt >= 3 || !/address already in use/i.test(nats.output())) throw err;
    }
  }
}

function startWorker(region: StartedRegion, dir: string): Child {
  const script = process.argv[1];
  if (script === undefined) throw new Error("cannot tell which script runs entente");
  return new Child(
    `worker of ${region.name}`,
    process.execPath,
    [...conditionFlags(process.execArgv), script, "-c", region.configFile, "serve", "all"],
    join(dir, "logs", `${region.name}-worker.log`),
  );
}

/** Polls every region's registry until each sees all regions active and reachable. */
async function waitForTree(regions: StartedRegion[], signal: AbortSignal): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  const pending = new Set(regions);
  let lastError: unknown;
  const clients = await Promise.all(
    regions.map(async (region) => {
      const nc = await connectNats(
        { servers: [region.url], maxReconnectAttempts: -1, reconnectTimeWaitMs: 250 },
        { name: "entente demo" },
      );
      return { region, nc, client: new EntenteClient(nc, { region: region.name }) };
    }),
  );
  try {
    while (pending.size > 0) {
      for (const { region, client } of clients) {
        if (!pending.has(region)) continue;
        const exited = regions.flatMap((r) => [r.nats, r.worker]).find((c) => c && !c.running);
        if (exited) {
          throw new Error(
            `${exited.name} exited:\n${lastLines(exited.output())}\n(log: ${exited.logFile})`,
          );
        }
        try {
          const reply = await client.request<RegionsView>(
            SUBJECTS.router.regions,
            {},
            { timeoutMs: 1_000 },
          );
          const ready =
            reply.regions.length === regions.length &&
            reply.regions.every(
              (r) => r.status === "active" && (r.reachable || r.id === reply.self),
            );
          if (ready) pending.delete(region);
        } catch (err) {
          // Its worker is still starting.
          lastError = err;
        }
      }
      if (pending.size === 0) break;
      if (signal.aborted) throw new Error("stopped");
      if (Date.now() > until) {
        const names = [...pending].map((r) => r.name).join(", ");
        throw new Error(
          `the regions did not all see each other within ${START_TIMEOUT_MS / 1000} s (still waiting for ${names}${lastError === undefined ? "" : `; last error: ${String(lastError)}`})`,
        );
      }
      await sleep(250);
    }
  } finally {
    await Promise.all(clients.map(({ nc }) => nc.close()));
  }
}

function summary(regions: StartedRegion[], dir: string, ownDir: boolean): string {
  const width = Math.max(...regions.map((r) => r.name.length));
  const leaf = regions.find((r) => r.name === "demo-b") ?? (regions.at(-1) as StartedRegion);
  const root = regions[0] as StartedRegion;
  const lines = [
    `${regions.length} regions are up, each its own nats-server and \`entente serve all\` worker:`,
    "",
    ...regions.map(
      (r) =>
        `  ${r.name.padEnd(width)}  id ${String(r.id).padEnd(2)}  ${r.url}  ${r.parent ? `under ${r.parent}` : "root"}`,
    ),
    "",
    `Configuration files, one per region: ${join(dir, "<region>.yaml")} (logs in ${join(dir, "logs")})`,
    "Try:",
    `  entente -c ${root.configFile} regions`,
    `  entente -c ${root.configFile} regions links`,
    `  entente -c ${root.configFile} route ${leaf.name}`,
    `  entente -c ${leaf.configFile} request entente.diag.info --region ${root.name}`,
    "",
    ownDir
      ? "Press Ctrl-C to stop every region and remove those files."
      : "Press Ctrl-C to stop every region (the files stay).",
    "",
  ];
  return lines.join("\n");
}
