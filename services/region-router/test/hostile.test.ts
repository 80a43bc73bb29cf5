/**
 * Bad input published straight to a region's router subjects: malformed and conflicting
 * announces, forged and tampered registry snapshots, oversized and unknown link-state adverts,
 * a routed message at the hop limit, garbage on routed subjects. Each is refused — with an error
 * naming the problem wherever there is a reply subject — and afterwards the regions still answer
 * routed requests and `$SRV.PING`.
 */
import {
  HEADERS,
  jsonCodec,
  type RegionsReply,
  SUBJECTS,
  type WorkerInfo,
} from "@entente/protocol";
import { pingAnswers, startNatsServer } from "@entente/testkit";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rootSigner, type SignedSnapshot } from "../src/signed-registry.ts";
import { eventually, routed, startRegion, type TestRegion } from "./regions.ts";

interface Refusal {
  code: string;
  message: string;
  retryable: boolean;
}

/** Sends raw bytes as a JSON request; the error it is answered with. */
async function refusal(
  nc: NatsConnection,
  subject: string,
  body: string | Uint8Array,
  extra: Record<string, string> = {},
): Promise<Refusal> {
  const h = natsHeaders();
  h.set(HEADERS.contentType, jsonCodec.contentType);
  for (const [name, value] of Object.entries(extra)) h.set(name, value);
  const reply = await nc.request(subject, body, { timeout: 5_000, headers: h });
  expect(reply.headers?.get(HEADERS.error)).toBeTruthy();
  return (JSON.parse(reply.string()) as { error: Refusal }).error;
}

const json = (value: unknown) => JSON.stringify(value);

describe("hostile input to the router", () => {
  const regions: TestRegion[] = [];
  let root: TestRegion;
  let leaf: TestRegion;

  beforeAll(async () => {
    // Room for a 2 MB message, so it reaches the router rather than being refused by NATS.
    const nats = await startNatsServer({ config: "max_payload: 4MB" });
    root = await startRegion({ name: "root", id: 1, nats });
    regions.push(root);
    leaf = await startRegion({ name: "leaf", id: 2, parent: "root", join: root.nats.url });
    regions.push(leaf);
    await eventually("leaf reaching root", () =>
      leaf.client.request<WorkerInfo>(routed("root", SUBJECTS.diagnostics.info), {}),
    );
  }, 60_000);

  afterAll(async () => {
    for (const region of [...regions].reverse()) await region.stop();
    await root?.nats.stop();
  });

  const revisionOf = async (region: TestRegion) =>
    (await region.client.request<RegionsReply>(SUBJECTS.router.regions, {})).revision;

  it("refuses malformed announces, naming the problem", async () => {
    const nc = root.clientNc;
    const announce = SUBJECTS.router.announce;
    const valid = { id: 9, name: "nine", parent: 1, url: "nats://127.0.0.1:1", seq: 1 };

    expect(await refusal(nc, announce, "{not json")).toMatchObject({ code: "MALFORMED" });
    const fields = await refusal(nc, announce, json({ hello: "world" }));
    expect(fields.code).toBe("BAD_REQUEST");
    expect(fields.message).toMatch(/id/);
    expect(fields.message).toMatch(/hello/);
    for (const id of [0, 70_000]) {
      const bad = await refusal(nc, announce, json({ ...valid, id }));
      expect(bad).toMatchObject({
        code: "BAD_REQUEST",
        message: expect.stringMatching(/1 to 65535/),
      });
    }
    const long = await refusal(nc, announce, json({ ...valid, name: "n".repeat(5_000) }));
    expect(long).toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/at most 64/),
    });
    const dotted = await refusal(nc, announce, json({ ...valid, name: "a.b" }));
    expect(dotted.message).toMatch(/subject token/);
  });

  it("refuses an announce claiming another region's id, or an unknown parent", async () => {
    const nc = root.clientNc;
    const announce = SUBJECTS.router.announce;
    const before = await revisionOf(root);
    const renamed = await refusal(
      nc,
      announce,
      json({ id: 2, name: "impostor", parent: 1, url: "nats://127.0.0.1:1", seq: 1 }),
    );
    expect(renamed.code).toBe("BAD_REQUEST");
    expect(renamed.message).toMatch(/already registered as "leaf"/);
    const moved = await refusal(
      nc,
      announce,
      json({ id: 2, name: "leaf", parent: 1, url: "nats://127.0.0.1:1", seq: 1 }),
    );
    expect(moved.message).toMatch(/claims its id/);
    // Through the leaf, which passes announces on to the root: the same refusal comes back.
    const orphan = await refusal(
      leaf.clientNc,
      announce,
      json({ id: 9, name: "orphan", parent: 77, url: "nats://127.0.0.1:1", seq: 1 }),
    );
    expect(orphan).toMatchObject({ code: "BAD_REQUEST", retryable: true });
    expect(orphan.message).toMatch(/parent 77 is not a known region/);
    expect(await revisionOf(root)).toBe(before);
  });

  it("refuses forged and tampered registry snapshots: the region keeps its revision", async () => {
    const push = SUBJECTS.router.registryPush(2);
    const held = await leaf.client.request<SignedSnapshot>(SUBJECTS.router.registry, {});
    const before = held.snapshot.revision;
    const newer = {
      ...held.snapshot,
      revision: before + 10,
      regions: held.snapshot.regions.map((r) =>
        r.id === 2 ? { ...r, url: "nats://attacker.example:4222" } : r,
      ),
    };

    const forged = await refusal(leaf.clientNc, push, json(rootSigner().sign(newer)));
    expect(forged).toMatchObject({ code: "BAD_REQUEST" });
    expect(forged.message).toMatch(/signed with a key other than the root's/);

    const tampered = await refusal(leaf.clientNc, push, json({ ...held, snapshot: newer }));
    expect(tampered.message).toMatch(/signature does not match/);

    const unreadable = await refusal(leaf.clientNc, push, json({ snapshot: 1 }));
    expect(unreadable.code).toBe("BAD_REQUEST");

    expect(await revisionOf(leaf)).toBe(before);
    const still = await leaf.client.request<SignedSnapshot>(SUBJECTS.router.registry, {});
    expect(still).toEqual(held);
  });

  it("refuses oversized adverts and adverts from unknown regions", async () => {
    const adverts = SUBJECTS.router.adverts(1);
    const advert = { origin: 2, seq: 1e9, issuedAt: Date.now(), links: [{ to: 1, cost: 1 }] };
    const many = Array.from({ length: 65 }, (_, i) => ({ to: 100 + i, cost: 1 }));
    const tooMany = await refusal(root.clientNc, adverts, json({ ...advert, links: many }));
    expect(tooMany).toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/64/) });

    const huge = json({ ...advert, padding: "x".repeat(2 * 1024 * 1024) });
    const big = await refusal(root.clientNc, adverts, huge);
    expect(big).toMatchObject({ code: "TOO_LARGE" });

    const unknown = await refusal(root.clientNc, adverts, json({ ...advert, origin: 999 }));
    expect(unknown).toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/999/) });

    const self = await refusal(
      root.clientNc,
      adverts,
      json({ ...advert, links: [{ to: 2, cost: -1 }] }),
    );
    expect(self.code).toBe("BAD_REQUEST");

    // A forged sequence number far ahead would make the real region's adverts look stale.
    const ahead = await refusal(
      root.clientNc,
      adverts,
      json({ ...advert, seq: Date.now() + 10 * 24 * 3_600_000 }),
    );
    expect(ahead).toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/ahead/) });
    const route = await eventually("leaf still reachable from root after the forgery", async () => {
      const reply = await root.client.request<{ reachable: boolean }>(SUBJECTS.router.route, {
        to: "leaf",
      });
      return reply.reachable ? reply : undefined;
    });
    expect(route.reachable).toBe(true);
  });

  it("forgets a relayed request nobody answers once its deadline has passed", async () => {
    // A subscriber in leaf that takes the request and never answers.
    const sink = leaf.clientNc.subscribe("test.sink");
    await leaf.clientNc.flush();
    await expect(
      root.client.request(routed("leaf", "test.sink"), {}, { timeoutMs: 300 }),
    ).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
    // Root's relay holds it for the deadline plus a grace for late replies, then drops it.
    const stats = await eventually(
      "the pending request expired",
      async () => {
        const reply = await root.clientNc.request("$SRV.STATS.region-router", undefined, {
          timeout: 2_000,
        });
        const text = reply.string();
        return /"expired":[1-9]/.test(text) && /"inFlight":0/.test(text) ? text : undefined;
      },
      10_000,
    );
    expect(stats).toMatch(/"expired":1\b/);
    sink.unsubscribe();
  });

  it("refuses routed messages at the hop limit, and bears garbage without a reply", async () => {
    const subject = routed("leaf", SUBJECTS.diagnostics.info);
    const loop = await refusal(root.clientNc, subject, json({}), { [HEADERS.hops]: "16" });
    expect(loop).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/loop/) });
    const nonsense = await refusal(root.clientNc, subject, json({}), { [HEADERS.hops]: "-x" });
    expect(nonsense.code).toBe("MALFORMED");

    const nc = root.clientNc;
    const garbage = new Uint8Array([0xc1, 0xff, 0x00, 0x7b]);
    const h = natsHeaders();
    h.set(HEADERS.hops, "many");
    for (const s of [
      subject,
      routed("atlantis", "x"),
      routed(2, "nothing.serves.this"),
      routed(1, SUBJECTS.router.announce),
      `${SUBJECTS.deployment}.r.2.fwd.${SUBJECTS.router.leave}`,
    ]) {
      nc.publish(s, garbage);
      nc.publish(s, garbage, { headers: h });
    }
    for (const s of [SUBJECTS.router.announce, SUBJECTS.router.leave, SUBJECTS.router.probe(1)]) {
      nc.publish(s, garbage);
    }
    await nc.flush();

    // Still serving: routed requests both ways, and $SRV.PING.
    const info = await leaf.client.request<WorkerInfo>(
      routed("root", SUBJECTS.diagnostics.info),
      {},
    );
    expect(info.region).toBe("root");
    const back = await root.client.request<WorkerInfo>(routed(2, SUBJECTS.diagnostics.info), {});
    expect(back.region).toBe("leaf");
    expect(await pingAnswers(root.clientNc, 500)).toBeGreaterThanOrEqual(2);
    expect(await pingAnswers(leaf.clientNc, 500)).toBeGreaterThanOrEqual(2);
  });
});
