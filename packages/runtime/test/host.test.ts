/**
 * The request path of a hosted service over real NATS: one deadline (header, body `timeoutMs`,
 * the host's maximum) armed once, the one abort mapping, stats, and a forced shutdown.
 */
import { EntenteError, HEADERS, jsonCodec } from "@entente/protocol";
import { type NatsService, natsServer, uniqueName } from "@entente/testkit";
import { headers } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { EntenteClient } from "../src/client.ts";
import { endpoint, type RequestContext, streamOf } from "../src/service/types.ts";
import { aborted, hostService, type TestHost } from "./host-support.ts";

const prefix = uniqueName("host");
const subject = (name: string) => `${prefix}.${name}`;
/** The host's maximum budget in this suite. */
const MAX_TIMEOUT_MS = 20_000;

let nats: NatsService;
let host: TestHost;
/** Each `hold` request's context, as the handler saw it. */
const held: RequestContext[] = [];
let heldArrived: (() => void) | undefined;
let unrepliedSeen: ((body: unknown) => void) | undefined;

beforeAll(async () => {
  nats = await natsServer();
  host = await hostService(
    nats.url,
    "host-test",
    {
      endpoints: [
        endpoint({
          name: "budget",
          subject: subject("budget"),
          handler: (_request, context) => ({ remainingMs: context.deadline.remainingMs() }),
        }),
        endpoint({
          name: "wait",
          subject: subject("wait"),
          handler: async (_request, context) => {
            await aborted(context.signal);
            return "too late";
          },
        }),
        endpoint({
          name: "hold",
          subject: subject("hold"),
          handler: (_request, context) => {
            held.push(context);
            heldArrived?.();
            return new Promise(() => {});
          },
        }),
        endpoint({
          name: "strict",
          subject: subject("strict"),
          schema: z.object({ sku: z.string() }),
          maxRequestBytes: 64,
          handler: (request) => ({ sku: request.sku }),
        }),
        endpoint({
          name: "fail",
          subject: subject("fail"),
          handler: () => {
            throw new EntenteError("UNAVAILABLE", "the source is down");
          },
        }),
        endpoint({
          name: "rows",
          subject: subject("rows"),
          handler: async () => streamOf([1, 2, 3]),
        }),
        endpoint({
          name: "slow",
          subject: subject("slow"),
          // One reply after long work, as a tier move a caller waits for.
          handler: async () => {
            await new Promise((resolve) => setTimeout(resolve, 700));
            return "done";
          },
        }),
        endpoint({
          name: "note",
          subject: subject("note"),
          handler: (request) => {
            unrepliedSeen?.(request);
          },
        }),
      ],
    },
    `runtime:\n  maxTimeoutMs: ${MAX_TIMEOUT_MS}\n`,
  );
});

afterAll(async () => {
  await host?.stop();
  await nats?.stop();
});

function statsOf(name: string) {
  const found = host.hosted.stats().endpoints.find((e) => e.name === name);
  if (!found) throw new Error(`no stats for ${name}`);
  return found;
}

describe("one deadline per request", () => {
  it("folds a body timeoutMs into the header's deadline", async () => {
    const { remainingMs } = await host.client.request<{ remainingMs: number }>(
      subject("budget"),
      { timeoutMs: 500 },
      { timeoutMs: 15_000 },
    );
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(500);
  });

  it("keeps the header's deadline when the body asks for more", async () => {
    const { remainingMs } = await host.client.request<{ remainingMs: number }>(
      subject("budget"),
      { timeoutMs: 60_000 },
      { timeoutMs: 1_000 },
    );
    expect(remainingMs).toBeLessThanOrEqual(1_000);
  });

  it("never goes past the host's maximum", async () => {
    const { remainingMs } = await host.client.request<{ remainingMs: number }>(
      subject("budget"),
      { timeoutMs: 250_000 },
      { timeoutMs: 250_000 },
    );
    expect(remainingMs).toBeLessThanOrEqual(MAX_TIMEOUT_MS);
  });

  it("serves `nats req` users: a JSON body's timeoutMs is their deadline", async () => {
    const h = headers();
    h.set("Content-Type", "application/json");
    const reply = await host.clientNc.request(
      subject("budget"),
      jsonCodec.encode({ timeoutMs: 300 }),
      { timeout: 10_000, headers: h },
    );
    const { remainingMs } = jsonCodec.decode(reply.data) as { remainingMs: number };
    expect(remainingMs).toBeLessThanOrEqual(300);
  });

  it("arms the deadline timer from the folded deadline, answering DEADLINE_EXCEEDED", async () => {
    const errorsBefore = statsOf("wait").num_errors;
    await expect(
      host.client.request(subject("wait"), { timeoutMs: 50 }, { timeoutMs: 15_000 }),
    ).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
    expect(statsOf("wait").num_errors).toBe(errorsBefore + 1);
    expect(statsOf("wait").last_error).toMatch(/^DEADLINE_EXCEEDED: /);
  });
});

describe("a call's own stall timeout", () => {
  it("waits past the client's stall timeout for a call that says it may", async () => {
    const impatient = new EntenteClient(host.clientNc, { stallTimeoutMs: 200 });
    await expect(impatient.request(subject("slow"), {})).rejects.toMatchObject({
      code: "STREAM_STALLED",
    });
    expect(
      await impatient.request(subject("slow"), {}, { timeoutMs: 10_000, stallTimeoutMs: 10_000 }),
    ).toBe("done");
  });
});

describe("the request path", () => {
  it("validates, bounds and maps failures to the error shape", async () => {
    await expect(host.client.request(subject("strict"), { sku: 7 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(
      host.client.request(subject("strict"), { sku: "x".repeat(100) }),
    ).rejects.toMatchObject({ code: "TOO_LARGE" });
    await expect(host.client.request(subject("fail"), {})).rejects.toMatchObject({
      code: "UNAVAILABLE",
      retryable: true,
    });
    expect(await host.client.request(subject("strict"), { sku: "ok" })).toEqual({ sku: "ok" });
    const stats = statsOf("strict");
    expect(stats.num_requests).toBe(3);
    expect(stats.num_errors).toBe(2);
  });

  it("streams a handler's items in batches", async () => {
    expect(await host.client.collect(subject("rows"), {})).toEqual([1, 2, 3]);
  });

  it("serves and counts a message that wants no reply", async () => {
    const seen = new Promise((resolve) => {
      unrepliedSeen = resolve;
    });
    host.clientNc.publish(subject("note"), jsonCodec.encode({ hello: 1 }), {
      headers: (() => {
        const h = headers();
        h.set(HEADERS.contentType, "application/json");
        return h;
      })(),
    });
    expect(await seen).toEqual({ hello: 1 });
  });

  it("aborts what is in flight on a forced shutdown, answering SHUTTING_DOWN", async () => {
    const arrived = new Promise<void>((resolve) => {
      heldArrived = resolve;
    });
    const answer = host.client.request(subject("hold"), {});
    await arrived;
    expect(host.hosted.inFlightCount).toBe(1);
    expect(await host.hosted.settle(1)).toBe(false);
    await expect(answer).rejects.toMatchObject({ code: "SHUTTING_DOWN" });
    expect(held.at(-1)?.signal.reason).toMatchObject({ code: "SHUTTING_DOWN" });
    expect(host.hosted.inFlightCount).toBe(0);
  });
});
