/** A federation below answering more than an instance may return: refused, not held in memory. */
import { msgpackCodec } from "@entente/protocol";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EntenteInstance, normalizeQuery } from "../src/index.ts";
import { clientOf } from "./support.ts";

describe("an entente instance", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];

  beforeAll(async () => {
    nats = await startNatsServer();
    ({ nc, client } = await clientOf(nats.url));
    // A federation below that answers 50 partials, one window each.
    nc.subscribe("test.many.query.federate", {
      callback: (_err, msg) => {
        const partials = Array.from({ length: 50 }, (_, i) => [
          BigInt(i) * 60_000_000_000n,
          [],
          1,
          1,
          1,
          1,
          0,
          null,
          null,
          null,
        ]);
        msg.respond(msgpackCodec.encode({ partials }));
      },
    });
    await nc.flush();
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("refuses more partials than it may return", async () => {
    const instance = new EntenteInstance({ name: "many", client, subject: "test.many.query" });
    const query = normalizeQuery({
      metric: "m",
      start: "0",
      end: String(3600n * 1_000_000_000n),
      aggregation: { function: "sum", window: "1m" },
    });
    const options = { signal: new AbortController().signal, timeoutMs: 5_000 };
    expect(
      (await instance.fetchPartials(query, { ...options, maxPoints: 50 })).partials,
    ).toHaveLength(50);
    await expect(
      instance.fetchPartials(query, { ...options, maxPoints: 49 }),
    ).rejects.toMatchObject({
      code: "TOO_LARGE",
      message: expect.stringMatching(/more than 49 .* from instance many/),
    });
  });
});
