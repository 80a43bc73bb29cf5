import { describe, expect, it } from "vitest";
import {
  DEFAULT_QUERY_LIMITS,
  dedupPoints,
  formatTimestamp,
  fromFederateRequest,
  newBreaker,
  nextBackoff,
  normalizeQuery,
  onFailure,
  onSuccess,
  parseDuration,
  parseTimestamp,
  partialsStatement,
  planPushdown,
  ResultCache,
  route,
  stateAt,
  tryAcquire,
} from "../src/index.ts";

describe("timestamps and durations", () => {
  it("reads nanoseconds, RFC 3339 with offsets and fractions, and relative times", () => {
    expect(parseTimestamp("1700000000123456789")).toBe(1_700_000_000_123_456_789n);
    expect(parseTimestamp("2023-11-14T22:13:20.123456789Z")).toBe(1_700_000_000_123_456_789n);
    expect(parseTimestamp("2023-11-15T00:13:20+02:00")).toBe(1_700_000_000_000_000_000n);
    expect(parseTimestamp("-1h", 10_000_000_000_000n)).toBe(
      10_000_000_000_000n - 3_600_000_000_000n,
    );
    expect(parseTimestamp("now-30s", 60_000_000_000n)).toBe(30_000_000_000n);
    expect(parseTimestamp(1.5)).toBeUndefined();
    expect(parseTimestamp("2023-02-30T00:00:00Z")).toBeUndefined();
    expect(formatTimestamp(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
    expect(parseDuration("1h30m")).toBe(5_400_000_000_000n);
    expect(parseDuration("250ms")).toBe(250_000_000n);
    expect(parseDuration("1 minute")).toBeUndefined();
  });
});

describe("query validation", () => {
  const now = 1_700_000_000_000_000_000n;
  it("normalizes defaults: the last hour, partial allowed", () => {
    const q = normalizeQuery({ metric: "cpu" }, DEFAULT_QUERY_LIMITS, now);
    expect(q.end).toBe(now);
    expect(q.end - q.start).toBe(3_600_000_000_000n);
    expect(q.partial).toBe("allow");
  });
  it("keeps __instance__ apart and turns a list into an anchored alternation", () => {
    const q = normalizeQuery(
      { metric: "cpu", tags: { __instance__: ["a", "b.c"], host: "x" } },
      DEFAULT_QUERY_LIMITS,
      now,
    );
    expect(q.instanceMatchers).toHaveLength(1);
    expect(q.instanceMatchers[0]?.regex?.test("b.c")).toBe(true);
    expect(q.instanceMatchers[0]?.regex?.test("bxc")).toBe(false);
    expect(q.matchers).toEqual([{ tag: "host", op: "=", value: "x" }]);
  });
  it("takes lists of any values, such as host names with dashes (the CLI's repeated --tag)", () => {
    const values = ["edge-a", "a/b", "x.y", "[z]", "(w)|v", "c+d*e?", "^$", "\\", "{1}"];
    const q = normalizeQuery({ metric: "cpu", tags: { host: values } }, DEFAULT_QUERY_LIMITS, now);
    const regex = q.matchers[0]?.regex as RegExp;
    for (const v of values) expect(regex.test(v)).toBe(true);
    expect(regex.test("edgexa")).toBe(false);
    expect(regex.test("edge-a|a/b")).toBe(false);
  });
  it("refuses malformed tag names from a federation above too (they are written into SQL)", () => {
    const request = { want: "partials" as const, metric: "m", start: "0", end: "10" };
    expect(() => fromFederateRequest({ ...request, matchers: [["a\"b'c", "=", "x"]] })).toThrow(
      /malformed tag name/,
    );
    expect(() =>
      fromFederateRequest({
        ...request,
        matchers: [],
        aggregation: { fn: "sum", window: "5", by: ["x' OR 1=1"] },
      }),
    ).toThrow(/malformed tag name/);
  });
  it("refuses windows that would make absurdly many points", () => {
    expect(() =>
      normalizeQuery(
        {
          metric: "cpu",
          start: "0",
          end: String(now),
          aggregation: { function: "sum", window: "1s" },
        },
        DEFAULT_QUERY_LIMITS,
        now,
      ),
    ).toThrow(/windows between start and end exceed/);
  });
  it("refuses unknown fields and matcher operators", () => {
    expect(() => normalizeQuery({ metric: "cpu", tag: {} }, DEFAULT_QUERY_LIMITS, now)).toThrow(
      /tag/,
    );
    expect(() =>
      normalizeQuery({ metric: "cpu", tags: { h: { "~": "x" } } }, DEFAULT_QUERY_LIMITS, now),
    ).toThrow(/unknown matcher "~"/);
  });
});

describe("circuit breaker", () => {
  const settings = { failureThreshold: 2, openMs: 1_000 };
  it("opens at the threshold, lets one probe through after the cool-down, closes on success", () => {
    let b = newBreaker();
    b = onFailure(b, 0, settings);
    expect(stateAt(b, 0, settings)).toBe("closed");
    b = onFailure(b, 10, settings);
    expect(stateAt(b, 10, settings)).toBe("open");
    expect(tryAcquire(b, 500, settings).allowed).toBe(false);
    const probe = tryAcquire(b, 1_010, settings);
    expect(probe.allowed).toBe(true);
    expect(probe.breaker.state).toBe("half-open");
    expect(tryAcquire(probe.breaker, 1_011, settings).allowed).toBe(false);
    expect(stateAt(onSuccess(probe.breaker), 1_020, settings)).toBe("closed");
    const reopened = onFailure(probe.breaker, 1_020, settings);
    expect(stateAt(reopened, 1_500, settings)).toBe("open");
    expect(stateAt(reopened, 2_020, settings)).toBe("half-open");
  });
  it("a success resets the count of consecutive failures", () => {
    const b = onSuccess(onFailure(newBreaker(), 0, settings));
    expect(stateAt(onFailure(b, 1, settings), 1, settings)).toBe("closed");
  });
});

describe("retry", () => {
  it("backs off exponentially and never past the deadline", () => {
    const s = { attempts: 3, backoffMs: 50, maxBackoffMs: 80 };
    expect(nextBackoff(1, true, 1_000, s)).toBe(50);
    expect(nextBackoff(2, true, 1_000, s)).toBe(80);
    expect(nextBackoff(3, true, 1_000, s)).toBeUndefined();
    expect(nextBackoff(1, false, 1_000, s)).toBeUndefined();
    expect(nextBackoff(1, true, 90, s)).toBeUndefined();
  });
});

describe("router", () => {
  const table = {
    instances: ["us-1", "us-2", "eu-1", "solo"],
    rules: [{ tag: "region", routes: { "us-west": ["us-1", "us-2"], eu: ["eu-1"] } }],
    replicaGroups: [{ name: "us", instances: ["us-1", "us-2"], read: "one" as const }],
  };
  const q = (tags: Record<string, unknown>) =>
    normalizeQuery({ metric: "m", tags }, DEFAULT_QUERY_LIMITS, 1_000_000_000_000_000n);
  it("maps a routed tag to its instances, replicas as one target", () => {
    expect(route(q({ region: "us-west" }), table)).toEqual([
      { kind: "replicas", name: "us", instances: ["us-1", "us-2"], read: "one" },
    ]);
    expect(route(q({ region: "eu" }), table)).toEqual([{ kind: "instance", name: "eu-1" }]);
  });
  it("falls back to every instance without a match", () => {
    expect(route(q({ region: "mars" }), table).map((t) => t.name)).toEqual(["us", "eu-1", "solo"]);
  });
  it("selects by __instance__, overriding the rules", () => {
    expect(route(q({ __instance__: "solo", region: "eu" }), table)).toEqual([
      { kind: "instance", name: "solo" },
    ]);
    expect(route(q({ __instance__: { "=~": "us-.*" } }), table)).toEqual([
      { kind: "replicas", name: "us", instances: ["us-1", "us-2"], read: "one" },
    ]);
    expect(() => route(q({ __instance__: "nope" }), table)).toThrow(/unknown instance "nope"/);
  });
});

describe("replica deduplication", () => {
  it("counts the same series and timestamp once", () => {
    const p = (host: string, ts: bigint) => ({
      metric: "m",
      tags: { host },
      timestamp: ts,
      value: 1,
    });
    expect(
      dedupPoints([
        [p("a", 1n), p("b", 1n)],
        [p("a", 1n), p("a", 2n)],
      ]),
    ).toHaveLength(3);
  });
});

describe("result cache", () => {
  it("is bounded in entries and bytes, and counts hits and misses", () => {
    const cache = new ResultCache({
      enabled: true,
      maxEntries: 2,
      maxBytes: 10_000,
      ttlMs: 60_000,
    });
    const point = { metric: "m", tags: { h: "x" }, timestamp: 1n, value: 1 };
    cache.set("a", [point]);
    cache.set("b", [point]);
    cache.set("c", [point]);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("c")).toHaveLength(1);
    expect(cache.view()).toMatchObject({ hits: 1, misses: 1, entries: 2 });
    // Larger than the whole cache: not stored at all.
    cache.set(
      "big",
      Array.from({ length: 1_000 }, () => point),
    );
    expect(cache.get("big")).toBeUndefined();
    expect(cache.view().bytes).toBeLessThanOrEqual(10_000);
  });
});

describe("SQL generation", () => {
  const postgres = {
    kind: "postgres" as const,
    quoteIdentifier: (n: string) => `"${n}"`,
    placeholder: (i: number) => `$${i}`,
  };
  const mysql = {
    kind: "mysql" as const,
    quoteIdentifier: (n: string) => `\`${n}\``,
    placeholder: () => "?",
  };
  const query = normalizeQuery(
    {
      metric: "cpu",
      start: "1000",
      end: "2000",
      tags: { host: { "=~": "a|b" }, dc: { "!=": "x" }, rack: { "=~": "r\\d+" } },
      aggregation: { function: "last", window: "100", by: ["dc"] },
    },
    DEFAULT_QUERY_LIMITS,
  );
  it("binds every value and pushes only portable regexes", () => {
    const plan = planPushdown("postgres", query.matchers);
    expect(plan.pushed.map((m) => m.tag)).toEqual(["host", "dc"]);
    expect(plan.local.map((m) => m.tag)).toEqual(["rack"]);
    const pg = partialsStatement(
      postgres,
      "points",
      { metric: "metric", tags: "tags", time: "time", value: "value", timeFormat: "ns" },
      query,
      plan.pushed,
      10,
    );
    expect(pg.params).toEqual(["cpu", "^(a|b)$", "x"]);
    expect(pg.sql).toContain("RANK() OVER");
    expect(pg.sql).not.toContain("'cpu'");
    const my = partialsStatement(
      mysql,
      "points",
      { metric: "m", tags: "t", time: "ts", value: "v", timeFormat: "ns" },
      query,
      plan.pushed,
      10,
    );
    // MySQL compares the metric twice: once for the index, once byte-wise.
    expect(my.params).toEqual(["cpu", "cpu", "(?s-imx)^(?:a|b)\\z", "x"]);
    expect(my.sql).toContain("utf8mb4_bin");
  });
});
