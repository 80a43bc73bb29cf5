/**
 * One trace for a cross-region SQL join: the caller's request to region 1's worker, that worker's
 * requests to regions 2 and 3, each relay by the region routers, and each owner region's worker
 * are spans of one trace, each the child of the hop that led to it. Tracing is process-wide (all
 * three regions run in this process): started once, for this file.
 */
import { encodeId, SUBJECTS } from "@entente/protocol";
import { HOP_ATTRIBUTES, startTracing, type Tracing } from "@entente/runtime";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Regions } from "./cross-region-regions.ts";

let receiver: OtlpReceiver;
let tracing: Tracing;
let regions: Regions;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = await startTracing({ serviceName: "regions", exporter: receiver.tracesUrl });
  // Small replies: the result streams back in batches after the statement's handler returned.
  regions = await Regions.start({ sqlJoin: "{ singleReplyRows: 5, batchRows: 4 }" });
}, 90_000);

afterAll(async () => {
  await regions?.close();
  await tracing?.shutdown();
  await receiver?.close();
});

const service = (s: ReceivedSpan) => s.attributes[HOP_ATTRIBUTES.service];
const subject = (s: ReceivedSpan) => s.attributes[HOP_ATTRIBUTES.subject];

describe("tracing a cross-region join", () => {
  it("shows the caller, every relay and every owner region's worker in one trace", async () => {
    // Keys of regions 2 and 3 only: region 1's worker asks both.
    const sql = `SELECT v.visit_id, p.name FROM visits v JOIN people p ON p.id = v.person_id
                   WHERE v.amount >= 60 AND v.person_id >= ${encodeId(2, 0)}`;
    receiver.clear();
    const answer = await regions.sql(sql);
    expect(answer.rows.length).toBeGreaterThan(5);
    expect(Object.keys(answer.stats?.sources ?? {}).sort()).toEqual(
      ["people_db", "region:2", "region:3"].sort(),
    );
    await tracing.forceFlush();

    const [caller] = await receiver.waitForSpans(
      (s) => s.kindName === "CLIENT" && subject(s) === SUBJECTS.sql && !service(s),
    );
    if (!caller) throw new Error("no span of the caller");
    const inTrace = (s: ReceivedSpan) => s.traceId === caller.traceId;
    const workerIn = (region: string) => (s: ReceivedSpan) =>
      inTrace(s) &&
      s.kindName === "SERVER" &&
      service(s) === "sql-join" &&
      s.attributes[HOP_ATTRIBUTES.destinationRegion] === region;
    // The caller's worker, then each owner region's.
    await receiver.waitForSpans((s) => ["east", "west", "south"].some((r) => workerIn(r)(s)), {
      count: 3,
      timeoutMs: 15_000,
    });
    const spans = receiver.spans().filter(inTrace);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    /** The spans from `span` up to the root of its trace. */
    const ancestry = (span: ReceivedSpan): ReceivedSpan[] => {
      const chain = [span];
      let at = span;
      while (at.parentSpanId) {
        const parent = byId.get(at.parentSpanId);
        if (!parent) break;
        chain.push(parent);
        at = parent;
      }
      return chain;
    };

    const east = spans.find(workerIn("east"));
    expect(east?.parentSpanId).toBe(caller.spanId);
    for (const region of ["west", "south"]) {
      const owner = spans.find(workerIn(region));
      expect(owner, `the worker span of ${region}`).toBeDefined();
      const chain = ancestry(owner as ReceivedSpan);
      // Up to the caller without a gap: owner worker ← relays ← east's worker ← caller.
      expect(chain[chain.length - 1]?.spanId).toBe(caller.spanId);
      expect(chain).toContain(east);
      const relays = chain.filter((s) => service(s) === "region-router");
      expect(relays.length, `relays on the way to ${region}`).toBeGreaterThan(0);
      // East's worker sent the request (a client span of sql-join bound for the owner).
      const sent = chain.find(
        (s) => s.kindName === "CLIENT" && service(s) === "sql-join" && s !== owner,
      );
      expect(sent?.parentSpanId).toBe(east?.spanId);
    }
  });
});
