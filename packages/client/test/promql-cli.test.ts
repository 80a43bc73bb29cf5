/**
 * `entente promql`: its times, steps and request body, what it prints for each kind of answer
 * (pure), and the whole command against a stand-in endpoint (a streamed answer, warnings, the
 * budget) and against the query federation's embedded demo instances.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type PromqlAnswer,
  type PromqlRequest,
  promqlLabelsRequestSchema,
  promqlLabelsSubject,
  promqlRequestSchema,
  promqlSeriesRequestSchema,
  promqlSeriesSubject,
  promqlValuesSubject,
} from "@entente/protocol";
import { queryFederationService } from "@entente/query-federation";
import {
  createLogger,
  EntenteClient,
  endpoint,
  HostedService,
  loadConfig,
  startWorker,
  streamOf,
  type Worker,
} from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import {
  cliTimeSeconds,
  defaultStep,
  promqlBody,
  promqlNotes,
  renderPromql,
  seriesText,
} from "../src/cli/promql.ts";

const NOW_MS = Date.parse("2026-01-01T12:00:00Z");
const NOW = NOW_MS / 1000;

describe("entente promql's times and request", () => {
  it("reads RFC 3339, Unix seconds, now and times relative to now", () => {
    expect(cliTimeSeconds("2026-01-01T11:00:00Z", NOW_MS)).toBe(NOW - 3600);
    expect(cliTimeSeconds("2026-01-01T13:00:00.5+02:00", NOW_MS)).toBe(NOW - 3600 + 0.5);
    expect(cliTimeSeconds("1767225600.25", NOW_MS)).toBe(1_767_225_600.25);
    expect(cliTimeSeconds("now", NOW_MS)).toBe(NOW);
    expect(cliTimeSeconds("-1h30m", NOW_MS)).toBe(NOW - 5400);
    expect(cliTimeSeconds("now-15m", NOW_MS)).toBe(NOW - 900);
    expect(cliTimeSeconds("+250ms", NOW_MS)).toBe(NOW + 0.25);
    expect(cliTimeSeconds("-1m", NOW_MS + 999)).toBe(NOW - 60);
    expect(() => cliTimeSeconds("yesterday", NOW_MS)).toThrow(/"yesterday" is not a time/);
    expect(() => cliTimeSeconds("-1 hour", NOW_MS)).toThrow(/not a time/);
  });

  it("picks a readable step giving at most 250 points", () => {
    expect(defaultStep(3600)).toBe("15s");
    expect(defaultStep(6 * 3600)).toBe("2m");
    expect(defaultStep(24 * 3600)).toBe("10m");
    expect(defaultStep(100)).toBe("1s");
    expect(defaultStep(10 * 365 * 86_400)).toBe("15d");
  });

  it("asks for an instant query at now unless told a time", () => {
    expect(promqlBody("up", {}, NOW_MS + 250)).toEqual({ query: "up", time: NOW });
    expect(promqlBody("up", { at: "-5m", timeout: 900, partial: "deny" }, NOW_MS)).toEqual({
      query: "up",
      time: NOW - 300,
      timeoutMs: 900,
      partial: "deny",
    });
  });

  it("asks for a range until now with a default step when only --start is given", () => {
    expect(promqlBody("up", { start: "-1h" }, NOW_MS)).toEqual({
      query: "up",
      start: NOW - 3600,
      end: NOW,
      step: "15s",
    });
    expect(
      promqlBody("up", { start: "2026-01-01T10:00:00Z", end: "-1h", step: "1m" }, NOW_MS),
    ).toEqual({ query: "up", start: NOW - 7200, end: NOW - 3600, step: "1m" });
  });

  it("refuses options that do not make one instant or one range", () => {
    expect(() => promqlBody("up", { end: "now" }, NOW_MS)).toThrow(/give --start too/);
    expect(() => promqlBody("up", { step: "1m" }, NOW_MS)).toThrow(/give --start too/);
    expect(() => promqlBody("up", { at: "now", start: "-1h" }, NOW_MS)).toThrow(/--at is an/);
    expect(() => promqlBody("up", { start: "now", end: "-1h" }, NOW_MS)).toThrow(
      /--end must not be before --start/,
    );
    expect(() => promqlBody("up", { start: "-1h", step: "0s" }, NOW_MS)).toThrow(/--step "0s"/);
    expect(() => promqlBody("up", { start: "-1h", step: "fast" }, NOW_MS)).toThrow(/--step/);
  });
});

describe("what entente promql prints", () => {
  it("writes a series as Prometheus does", () => {
    expect(seriesText({ region: "eu", __name__: "cpu", host: "b-1" })).toBe(
      'cpu{host="b-1", region="eu"}',
    );
    expect(seriesText({ __name__: "up" })).toBe("up");
    expect(seriesText({ path: 'say "hi"\n' })).toBe('{path="say \\"hi\\"\\n"}');
    expect(seriesText({})).toBe("{}");
  });

  it("prints a vector as one row per series with its time", () => {
    const answer: PromqlAnswer = {
      resultType: "vector",
      result: [
        { metric: { region: "us-west" }, value: [NOW, "2"] },
        { metric: { __name__: "cpu_usage", region: "eu-west" }, value: [NOW, "61.5"] },
      ],
    };
    expect(renderPromql(answer)).toBe(
      [
        "series                       value",
        "---------------------------  -----",
        '{region="us-west"}           2',
        'cpu_usage{region="eu-west"}  61.5',
        "(2 series at 2026-01-01T12:00:00Z)",
      ].join("\n"),
    );
    expect(renderPromql({ resultType: "vector", result: [] })).toMatch(/\(0 series\)$/);
  });

  it("prints a matrix as a block per series with a row per step", () => {
    const answer: PromqlAnswer = {
      resultType: "matrix",
      result: [
        {
          metric: { host: "a-1" },
          values: [
            [NOW - 60, "1"],
            [NOW, "NaN"],
          ],
        },
        { metric: { host: "a-2" }, values: [[NOW + 0.5, "+Inf"]] },
      ],
    };
    expect(renderPromql(answer)).toBe(
      [
        '{host="a-1"}',
        "time                  value",
        "--------------------  -----",
        "2026-01-01T11:59:00Z  1",
        "2026-01-01T12:00:00Z  NaN",
        "",
        '{host="a-2"}',
        "time                    value",
        "----------------------  -----",
        "2026-01-01T12:00:00.5Z  +Inf",
        "",
        "(2 series, 3 samples)",
      ].join("\n"),
    );
  });

  it("prints a scalar or a string as its value alone", () => {
    expect(renderPromql({ resultType: "scalar", result: [NOW, "2"] })).toBe("2");
    expect(renderPromql({ resultType: "string", result: [NOW, "hello"] })).toBe("hello");
  });

  it("notes the failed instances once, and any other warning", () => {
    const notes = promqlNotes({
      warnings: ["instance edge-b: UNAVAILABLE: no answer", "too many samples, results cut"],
      partial: {
        succeeded: 1,
        total: 2,
        errors: [{ instance: "edge-b", code: "UNAVAILABLE", message: "no answer" }],
      },
    });
    expect(notes).toEqual([
      "partial: 1 of 2 instances answered",
      "  edge-b: UNAVAILABLE: no answer",
      "warning: too many samples, results cut",
    ]);
    expect(promqlNotes({})).toEqual([]);
  });
});

/** The command line run in this process against `configFile`; what it wrote to each stream. */
async function runCli(configFile: string, ...args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    await buildProgram().parseAsync(["node", "entente", "-c", configFile, ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { stdout: stdout.join(""), stderr: stderr.join("") };
}

async function cliConfig(natsUrl: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "entente-promql-"));
  const file = join(dir, "cli.yaml");
  await writeFile(file, `nats: { servers: ["${natsUrl}"] }\nlog: { level: warn }\n`);
  return { dir, file };
}

describe("entente promql against a stand-in endpoint", () => {
  const SUBJECT = "standin.promql";
  let nats: NatsServer;
  let nc: NatsConnection;
  let hosted: HostedService;
  let config: { dir: string; file: string };
  const seen: Array<{ body: unknown; remainingMs: number }> = [];

  /** A matrix in two items, as the endpoint streams a large one: the first tells the failure. */
  const streamed: PromqlAnswer[] = [
    {
      resultType: "matrix",
      result: [{ metric: { host: "a-1" }, values: [[NOW, "1"]] }],
      warnings: ["instance edge-b: UNAVAILABLE: no answer"],
      partial: {
        succeeded: 1,
        total: 2,
        errors: [{ instance: "edge-b", code: "UNAVAILABLE", message: "no answer" }],
      },
    },
    { resultType: "matrix", result: [{ metric: { host: "a-2" }, values: [[NOW, "2"]] }] },
  ];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
    const record = (body: unknown, context: { deadline: { remainingMs(): number } }) =>
      seen.push({ body, remainingMs: context.deadline.remainingMs() });
    hosted = await HostedService.start(
      {
        name: "promql-stand-in",
        version: "0.0.1",
        description: "answers PromQL requests as the query federation would",
        start: () => ({
          endpoints: [
            endpoint({
              name: "promql",
              subject: SUBJECT,
              schema: promqlRequestSchema,
              handler: (body, context) => {
                record(body, context);
                return streamOf(streamed);
              },
            }),
            endpoint({
              name: "promql-series",
              subject: promqlSeriesSubject(SUBJECT),
              schema: promqlSeriesRequestSchema,
              handler: (body, context) => {
                record(body, context);
                return { series: [{ __name__: "cpu_usage", host: "a-1" }] };
              },
            }),
            endpoint({
              name: "promql-labels",
              subject: promqlLabelsSubject(SUBJECT),
              schema: promqlLabelsRequestSchema,
              handler: (body, context) => {
                record(body, context);
                return { values: ["__name__", "host"], warnings: ["instance edge-b: slow"] };
              },
            }),
            endpoint({
              name: "promql-values",
              subject: promqlValuesSubject(SUBJECT),
              schema: promqlLabelsRequestSchema,
              handler: (body, context) => {
                record(body, context);
                return { values: ["a-1", "a-2"] };
              },
            }),
          ],
        }),
      },
      {
        nc,
        config: loadConfig({ text: "log: { level: silent }\n", env: { NATS_URL: nats.url } }),
        client: new EntenteClient(nc),
        logger: createLogger({ service: "promql-stand-in", level: "silent" }),
      },
    );
    config = await cliConfig(nats.url);
  }, 60_000);

  afterAll(async () => {
    await hosted?.stop(1_000);
    await nc?.close();
    await nats?.stop();
    if (config) await rm(config.dir, { recursive: true, force: true });
  });

  const lastRequest = () => seen[seen.length - 1];

  it("joins a streamed answer, prints every series and notes the failure on stderr", async () => {
    const before = Math.floor(Date.now() / 1000);
    const { stdout, stderr } = await runCli(
      config.file,
      "promql",
      "rate(cpu_usage[5m])",
      "--start",
      "-1h",
      "--subject",
      SUBJECT,
      "--timeout",
      "4321",
      "--partial",
      "allow",
    );
    expect(stdout).toContain('{host="a-1"}');
    expect(stdout).toContain('{host="a-2"}');
    expect(stdout).toContain("(2 series, 2 samples)");
    expect(stderr).toBe("partial: 1 of 2 instances answered\n  edge-b: UNAVAILABLE: no answer\n");
    const request = lastRequest();
    const body = request?.body as PromqlRequest;
    expect(body).toMatchObject({
      query: "rate(cpu_usage[5m])",
      step: "15s",
      timeoutMs: 4321,
      partial: "allow",
    });
    expect(body.end as number).toBeGreaterThanOrEqual(before);
    expect((body.end as number) - (body.start as number)).toBe(3600);
    // The budget travels with the call, not only in the body.
    expect(request?.remainingMs).toBeLessThanOrEqual(4321);
  });

  it("prints the joined answer as JSON, with nothing on stderr", async () => {
    const { stdout, stderr } = await runCli(
      config.file,
      "promql",
      "up",
      "--at",
      "1767268800",
      "--subject",
      SUBJECT,
      "--format",
      "json",
    );
    const answer = JSON.parse(stdout) as Extract<PromqlAnswer, { resultType: "matrix" }>;
    expect(answer.result.map((s) => s.metric.host)).toEqual(["a-1", "a-2"]);
    expect(answer.partial?.succeeded).toBe(1);
    expect(stderr).toBe("");
    expect(lastRequest()?.body).toEqual({ query: "up", time: 1_767_268_800 });
  });

  it("lists series, label names and a label's values", async () => {
    const series = await runCli(
      config.file,
      "promql",
      "series",
      "cpu_usage",
      'up{job="x"}',
      "--start",
      "2026-01-01T11:00:00Z",
      "--subject",
      SUBJECT,
    );
    expect(series.stdout).toBe('cpu_usage{host="a-1"}\n(1 series)\n');
    expect(lastRequest()?.body).toEqual({ match: ["cpu_usage", 'up{job="x"}'], start: NOW - 3600 });

    const labels = await runCli(config.file, "promql", "labels", "--subject", SUBJECT);
    expect(labels.stdout).toBe("__name__\nhost\n");
    expect(labels.stderr).toBe("warning: instance edge-b: slow\n");
    expect(lastRequest()?.body).toEqual({});

    const values = await runCli(
      config.file,
      "promql",
      "labels",
      "host",
      "--match",
      "cpu_usage",
      "--subject",
      SUBJECT,
    );
    expect(values.stdout).toBe("a-1\na-2\n");
    expect(lastRequest()?.body).toEqual({ name: "host", match: ["cpu_usage"] });
  });

  it("takes a listing's options wherever they are written, and refuses a query's", async () => {
    const { stdout } = await runCli(
      config.file,
      "promql",
      "--subject",
      SUBJECT,
      "labels",
      "host",
      "--format",
      "json",
      "--end",
      "1767268800",
      "--timeout",
      "2000",
    );
    expect(JSON.parse(stdout)).toEqual({ values: ["a-1", "a-2"] });
    expect(lastRequest()?.body).toEqual({ name: "host", end: 1_767_268_800, timeoutMs: 2000 });
    await expect(
      runCli(config.file, "promql", "labels", "--subject", SUBJECT, "--step", "1m"),
    ).rejects.toThrow("--step does not apply to promql labels");
  });
});

describe("entente promql against the query federation's demo instances", () => {
  let nats: NatsServer;
  let worker: Worker;
  let config: { dir: string; file: string };

  beforeAll(async () => {
    nats = await startNatsServer();
    worker = await startWorker({
      services: [queryFederationService],
      config: loadConfig({
        text: `nats: { servers: ["${nats.url}"] }\nlog: { level: warn }\n`,
        env: {},
      }),
    });
    config = await cliConfig(nats.url);
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await nats?.stop();
    if (config) await rm(config.dir, { recursive: true, force: true });
  });

  it("prints an instant aggregation across both instances", async () => {
    const { stdout, stderr } = await runCli(config.file, "promql", "count by (region) (cpu_usage)");
    const lines = stdout.trimEnd().split("\n");
    expect(lines.slice(0, 2)).toEqual(["series              value", "------------------  -----"]);
    expect(lines.slice(2, 4).sort()).toEqual(['{region="eu-west"}  2', '{region="us-west"}  2']);
    expect(lines[4]).toMatch(/^\(2 series at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/);
    expect(stderr).toBe("");
  });

  it("prints a range as a block per series, one row per step", async () => {
    const { stdout } = await runCli(
      config.file,
      "promql",
      "sum by (region) (cpu_usage)",
      "--start",
      "-1h",
      "--step",
      "5m",
    );
    const blocks = stdout.trimEnd().split("\n\n");
    expect(blocks.map((b) => b.split("\n")[0]).sort()).toEqual([
      "(2 series, 26 samples)",
      '{region="eu-west"}',
      '{region="us-west"}',
    ]);
    for (const block of blocks.slice(0, 2)) {
      const rows = block.split("\n").slice(3);
      expect(rows).toHaveLength(13);
      for (const row of rows)
        expect(row).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d+(\.\d+)?$/);
    }
  });

  it("prints a scalar, and the JSON answer Prometheus' API would give", async () => {
    expect((await runCli(config.file, "promql", "1+1")).stdout).toBe("2\n");
    const { stdout } = await runCli(
      config.file,
      "promql",
      "1+1",
      "--at",
      "1700000000",
      "--format",
      "json",
    );
    expect(JSON.parse(stdout)).toEqual({ resultType: "scalar", result: [1_700_000_000, "2"] });
  });

  it("lists the demo's series, label names and values", async () => {
    const series = await runCli(
      config.file,
      "promql",
      "series",
      'cpu_usage{region="eu-west"}',
      "--start",
      "-10m",
    );
    expect(series.stdout).toBe(
      [
        'cpu_usage{host="b-1", region="eu-west"}',
        'cpu_usage{host="b-2", region="eu-west"}',
        "(2 series)",
        "",
      ].join("\n"),
    );
    expect((await runCli(config.file, "promql", "labels")).stdout).toBe("__name__\nhost\nregion\n");
    expect((await runCli(config.file, "promql", "labels", "__name__")).stdout).toBe(
      "cpu_usage\nhttp_requests_total\n",
    );
  });

  it("fails with the endpoint's error for a malformed expression", async () => {
    await expect(runCli(config.file, "promql", "sum(rate(x[5m])")).rejects.toThrow();
  });
});
