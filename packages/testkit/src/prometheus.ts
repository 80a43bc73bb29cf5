import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DiscoveryOptions, discovery, notFound } from "./discovery.ts";
import { withFreePort } from "./free-port.ts";
import { LogBuffer } from "./log-buffer.ts";
import { runCommand, startProcess } from "./process.ts";
import { once } from "./service.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";

const HOST = "127.0.0.1";

export const PROMETHEUS_BIN_ENV = "ENTENTE_TEST_PROMETHEUS_BIN";
export const PROMTOOL_BIN_ENV = "ENTENTE_TEST_PROMTOOL_BIN";

export const PROMETHEUS_INSTALL_HINT =
  "Debian's `prometheus` package, which brings prometheus and promtool " +
  "(`bash scripts/system-packages.sh`), or set " +
  `${PROMETHEUS_BIN_ENV} and ${PROMTOOL_BIN_ENV}`;

// Subqueries without a step use the evaluation interval; pinned so results never depend on
// Prometheus' defaults changing.
const CONFIG = "global:\n  evaluation_interval: 1m\n  scrape_interval: 1m\n";

export interface StartPrometheusOptions {
  /** The data, as OpenMetrics text (see `toOpenMetrics`), backfilled before the server starts. */
  openMetrics: string;
  /** `--query.lookback-delta`; default "5m" as in Prometheus. */
  lookbackDelta?: string;
  /** Extra command line arguments for prometheus. */
  args?: readonly string[];
  /** Where to look for the binaries when the environment names none. */
  discovery?: DiscoveryOptions;
  /** Bound on backfilling and on readiness each; default 60 s. */
  timeoutMs?: number;
}

/** A Prometheus server over fixed data, with no scrape jobs, owned by the test. */
export interface PrometheusServer extends AsyncDisposable {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  /** The last output lines. */
  logs(): string[];
  /** Kills the server and removes its data. Safe to call more than once. */
  stop(): Promise<void>;
}

/** The JSON envelope of Prometheus' HTTP API. */
export interface PrometheusResponse<T = unknown> {
  status: "success" | "error";
  data?: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

/** Finds prometheus and promtool (environment first, then PATH), or throws saying how to install. */
export async function findPrometheusBinaries(
  options: DiscoveryOptions = {},
): Promise<{ prometheus: string; promtool: string }> {
  const found = discovery(options);
  const pick = async (envVar: string, name: string) => {
    const named = found.env[envVar]?.trim();
    return named === undefined || named === "" ? await found.findBinary([name]) : named;
  };
  const prometheus = await pick(PROMETHEUS_BIN_ENV, "prometheus");
  const promtool = await pick(PROMTOOL_BIN_ENV, "promtool");
  if (prometheus !== undefined && promtool !== undefined) return { prometheus, promtool };
  const missing = [...(prometheus ? [] : ["prometheus"]), ...(promtool ? [] : ["promtool"])];
  throw new Error(
    `${notFound(missing, found.searchPath()).unavailable}. Install ${PROMETHEUS_INSTALL_HINT}.`,
  );
}

/**
 * Backfills `openMetrics` into a fresh TSDB with promtool and starts prometheus on it, on a
 * free loopback port; resolves once `/-/ready` answers.
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  const binaries = await findPrometheusBinaries(options.discovery);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = await makeTempDir("prometheus");
  try {
    const input = join(dir, "data.om");
    const tsdb = join(dir, "tsdb");
    const config = join(dir, "prometheus.yml");
    await writeFile(input, options.openMetrics);
    await writeFile(config, CONFIG);
    // Long blocks keep the block count (and Prometheus' start time) small.
    await runCommand(
      binaries.promtool,
      ["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h", input, tsdb],
      { cwd: dir, timeoutMs },
    );
    const logs = new LogBuffer(500);
    const { port, proc } = await withFreePort(async (port) => {
      const url = `http://${HOST}:${port}`;
      const proc = await startProcess({
        name: "prometheus",
        command: binaries.prometheus,
        args: [
          `--config.file=${config}`,
          `--storage.tsdb.path=${tsdb}`,
          "--storage.tsdb.retention.time=100y",
          `--web.listen-address=${HOST}:${port}`,
          `--query.lookback-delta=${options.lookbackDelta ?? "5m"}`,
          ...(options.args ?? []),
        ],
        cwd: dir,
        probe: () => ready(url),
        timeoutMs,
        logs,
      });
      return { port, proc };
    });
    const stop = once(async () => {
      await proc.kill("SIGKILL");
      await removeTempDir(dir);
    });
    return {
      url: `http://${HOST}:${port}`,
      logs: () => logs.lines(),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

async function ready(url: string): Promise<void> {
  const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`GET /-/ready answered ${response.status}`);
}

/**
 * Calls a Prometheus HTTP API endpoint (e.g. `/api/v1/query`, `/api/v1/query_range`) and
 * returns its JSON envelope, errors included (Prometheus answers them with 400/422 and a body).
 */
export async function queryPrometheus<T = unknown>(
  url: string,
  path: string,
  params: Readonly<Record<string, string | number>>,
): Promise<PrometheusResponse<T>> {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) query.set(name, String(value));
  const response = await fetch(`${url}${path}?${query.toString()}`);
  const text = await response.text();
  try {
    return JSON.parse(text) as PrometheusResponse<T>;
  } catch {
    throw new Error(`${path} answered ${response.status} with a body that is not JSON: ${text}`);
  }
}
