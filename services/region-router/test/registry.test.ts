import {
  type RegionAnnounce,
  type RegistrySnapshot,
  regionRefusal,
  registrySnapshotSchema,
} from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  acceptSnapshot,
  applyAnnounce,
  applyLeave,
  childrenOf,
  contains,
  createRegistry,
  isActive,
  listsSelf,
  markDead,
  pathToRoot,
  type Registry,
  silentSince,
  toSnapshot,
  touch,
  type Verdict,
  validateAnnounce,
} from "../src/model/registry.ts";

const T0 = 1_700_000_000_000;
const ROOT = { id: 1, name: "root", url: "nats://root.example:4222" };

const announceOf = (id: number, parent: number | undefined, name = `r${id}`): RegionAnnounce => ({
  id,
  name,
  url: `nats://${name}.example:4222`,
  seq: 1,
  ...(parent === undefined ? {} : { parent }),
});

/** The registry after the verdict; fails the test when it was a refusal. */
function accepted(verdict: Verdict): Registry {
  if (!verdict.accepted) throw new Error(`refused: ${JSON.stringify(verdict.problems)}`);
  return verdict.registry;
}

/** root 1 ─ 2 ─ 3, and 4 under the root. */
function tree(): Registry {
  let r = createRegistry(ROOT, T0);
  for (const [id, parent] of [
    [2, 1],
    [3, 2],
    [4, 1],
  ] as const) {
    r = accepted(applyAnnounce(r, announceOf(id, parent), T0 + id));
  }
  return r;
}

const problems = (registry: Registry, announce: RegionAnnounce) =>
  validateAnnounce(registry, announce)?.map((p) => `${p.field}: ${p.message}`);

describe("announces at the root", () => {
  it("starts at revision 1 with the root alone, and adds a region as a new revision", () => {
    const r0 = createRegistry(ROOT, T0);
    expect(toSnapshot(r0)).toEqual({
      root: 1,
      revision: 1,
      regions: [{ ...ROOT, status: "active", since: T0, lastSeen: T0 }],
    });
    const verdict = applyAnnounce(r0, announceOf(7, 1, "eu-west"), T0 + 5);
    expect(verdict).toMatchObject({ accepted: true, changed: true });
    const r1 = accepted(verdict);
    expect(r1.revision).toBe(2);
    expect(r1.regions.get(7)).toEqual({
      id: 7,
      name: "eu-west",
      parent: 1,
      url: "nats://eu-west.example:4222",
      status: "active",
      since: T0 + 5,
      lastSeen: T0 + 5,
    });
    // The root's registry is left as it was: a pure function.
    expect(r0.revision).toBe(1);
    expect(contains(r0, 7)).toBe(false);
  });

  it("takes a repeated announce without a new revision, only lastSeen moves", () => {
    const r = tree();
    const again = applyAnnounce(r, { ...announceOf(3, 2), seq: 9 }, T0 + 100);
    expect(again).toMatchObject({ accepted: true, changed: false });
    expect(accepted(again).revision).toBe(r.revision);
    expect(accepted(again).regions.get(3)?.lastSeen).toBe(T0 + 100);
    expect(accepted(again).regions.get(3)?.since).toBe(T0 + 3);
  });

  it("refuses an id held by a region of another name, naming the holder", () => {
    const r = accepted(applyAnnounce(createRegistry(ROOT, T0), announceOf(7, 1, "eu-west"), T0));
    expect(problems(r, announceOf(7, 1, "us-east"))).toEqual([
      'id: region 7 is already registered as "eu-west": "us-east" needs an id of its own',
    ]);
  });

  it("refuses a second live process claiming an active region's id from another URL", () => {
    const r = tree();
    const impostor = { ...announceOf(3, 2), url: "nats://elsewhere:4222" };
    expect(problems(r, impostor)).toEqual([
      'url: region 3 ("r3" at nats://r3.example:4222) is active: another process at nats://elsewhere:4222 claims its id',
    ]);
    // Once the region is gone, it may come back from its new place: a new revision, active.
    const dead = markDead(r, [3], T0 + 50);
    const back = accepted(applyAnnounce(dead, impostor, T0 + 60));
    expect(back.revision).toBe(dead.revision + 1);
    expect(back.regions.get(3)).toMatchObject({
      status: "active",
      url: impostor.url,
      since: T0 + 60,
    });
  });

  it("refuses a name another region holds, even a departed one", () => {
    const r = accepted(applyLeave(tree(), { id: 4 }, T0 + 10));
    expect(problems(r, announceOf(9, 1, "r4"))).toEqual([
      'name: "r4" is taken by region 4 ("r4" at nats://r4.example:4222, departed)',
    ]);
    expect(problems(r, announceOf(9, 1, "root"))).toEqual([
      'name: "root" is taken by region 1 ("root" at nats://root.example:4222)',
    ]);
  });

  it("refuses an unknown parent, as worth retrying: the parent may not have announced yet", () => {
    const r = tree();
    expect(problems(r, announceOf(9, 8))).toEqual([
      "parent: parent 8 is not a known region (it must announce itself first)",
    ]);
    expect(applyAnnounce(r, announceOf(9, 8), T0)).toMatchObject({
      accepted: false,
      retryable: true,
    });
    // Anything else wrong as well, and retrying will not help.
    expect(applyAnnounce(r, announceOf(9, 8, "r2"), T0)).toMatchObject({
      accepted: false,
      retryable: false,
    });
  });

  it("refuses a region as its own parent, and a move that would make a cycle", () => {
    const r = tree();
    expect(problems(r, announceOf(9, 9))).toEqual(["parent: region 9 cannot be its own parent"]);
    // 2 is above 3: 2 under 3 would close the loop 2 → 3 → 2.
    expect(problems(r, announceOf(2, 3))).toEqual([
      "parent: parent 3 is below region 2: moving it there would make a cycle",
    ]);
    // A move that keeps a tree is a change like any other.
    const moved = accepted(applyAnnounce(r, announceOf(3, 4), T0 + 9));
    expect(moved.revision).toBe(r.revision + 1);
    expect(pathToRoot(moved, 3)).toEqual([3, 4, 1]);
    expect(moved.regions.get(3)?.since).toBe(T0 + 3);
  });

  it("refuses ids out of range, whatever the schema let through", () => {
    const r = tree();
    for (const id of [0, -1, 65_536, 2.5, Number.NaN]) {
      expect(problems(r, announceOf(id, 1))).toEqual([
        `id: region id ${id} is out of range: from 1 to 65535`,
      ]);
    }
    expect(problems(r, announceOf(9, 70_000))).toEqual([
      "parent: parent 70000 is out of range: from 1 to 65535",
    ]);
  });

  it("refuses a parent for the root, and no parent for anyone else", () => {
    const r = tree();
    expect(problems(r, { ...ROOT, parent: 2, seq: 1 })).toEqual([
      "parent: region 1 is the root: the root has no parent",
    ]);
    expect(problems(r, announceOf(9, undefined))).toEqual([
      "parent: a parent is required: only the root (region 1) has none",
    ]);
    expect(validateAnnounce(r, { ...ROOT, seq: 1 })).toBeNull();
  });

  it("lists every problem of one announce, and the refusal names them all", () => {
    const r = tree();
    const announce = { ...announceOf(2, 2, "r4"), url: "nats://x:1" };
    const found = validateAnnounce(r, announce)!;
    expect(found.map((p) => p.field)).toEqual(["id", "name", "parent"]);
    const error = regionRefusal("announce of region 2", found);
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toContain('region 2 is already registered as "r2"');
    expect(error.message).toContain('"r4" is taken by region 4');
  });
});

describe("leaving, dying and being heard from", () => {
  it("marks a departed region, keeps it and its children, and bumps once", () => {
    const r = tree();
    const left = accepted(applyLeave(r, { id: 2 }, T0 + 10));
    expect(left.revision).toBe(r.revision + 1);
    expect(left.regions.get(2)).toMatchObject({ status: "departed", since: T0 + 10 });
    expect(isActive(left, 2)).toBe(false);
    expect(contains(left, 2)).toBe(true);
    expect(pathToRoot(left, 3)).toEqual([3, 2, 1]);
    expect(applyLeave(left, { id: 2 }, T0 + 11)).toMatchObject({ accepted: true, changed: false });
  });

  it("refuses a leave of an unknown region or of the root", () => {
    const r = tree();
    expect(applyLeave(r, { id: 42 }, T0)).toEqual({
      accepted: false,
      retryable: false,
      problems: [{ field: "id", message: "region 42 is not registered" }],
    });
    expect(applyLeave(r, { id: 1 }, T0)).toMatchObject({
      accepted: false,
      problems: [{ field: "id", message: "region 1 is the root: it cannot leave" }],
    });
  });

  it("brings a departed or dead region back with its announce, as a new revision", () => {
    const left = accepted(applyLeave(tree(), { id: 4 }, T0 + 10));
    const back = applyAnnounce(left, announceOf(4, 1), T0 + 20);
    expect(back).toMatchObject({ accepted: true, changed: true });
    expect(accepted(back).revision).toBe(left.revision + 1);
    expect(accepted(back).regions.get(4)).toMatchObject({ status: "active", since: T0 + 20 });
  });

  it("marks the silent regions dead in one revision, never the root or the unknown", () => {
    let r = tree();
    r = touch(r, 2, T0 + 1_000);
    r = touch(r, 3, T0 + 900);
    const silent = silentSince(r, T0 + 950);
    expect(silent).toEqual([3, 4]);
    const dead = markDead(r, [...silent, 1, 99, 3], T0 + 2_000);
    expect(dead.revision).toBe(r.revision + 1);
    expect([...dead.regions.values()].map((x) => [x.id, x.status])).toEqual([
      [1, "active"],
      [2, "active"],
      [3, "dead"],
      [4, "dead"],
    ]);
    expect(dead.regions.get(3)?.since).toBe(T0 + 2_000);
    // Nothing to change: the same registry, no revision.
    expect(markDead(dead, [3, 4, 1, 99], T0 + 3_000)).toBe(dead);
    expect(silentSince(dead, T0 + 10_000)).toEqual([2]);
  });

  it("records lastSeen without a revision, and never moves it back", () => {
    const r = tree();
    const seen = touch(r, 2, T0 + 500);
    expect(seen.revision).toBe(r.revision);
    expect(seen.regions.get(2)?.lastSeen).toBe(T0 + 500);
    expect(touch(seen, 2, T0 + 400)).toBe(seen);
    expect(touch(seen, 99, T0 + 600)).toBe(seen);
  });
});

describe("tree helpers", () => {
  it("finds children, paths to the root and membership", () => {
    const r = tree();
    expect(childrenOf(r, 1)).toEqual([2, 4]);
    expect(childrenOf(r, 2)).toEqual([3]);
    expect(childrenOf(r, 3)).toEqual([]);
    expect(pathToRoot(r, 3)).toEqual([3, 2, 1]);
    expect(pathToRoot(r, 1)).toEqual([1]);
    expect(pathToRoot(r, 99)).toEqual([]);
    expect(contains(r, 4)).toBe(true);
    expect(isActive(r, 4)).toBe(true);
    expect(isActive(r, 99)).toBe(false);
  });

  it("sees itself only under its own name and URL, active", () => {
    const r = tree();
    const self = { id: 3, name: "r3", url: "nats://r3.example:4222" };
    expect(listsSelf(r, self)).toBe(true);
    expect(listsSelf(r, { ...self, url: "nats://other:4222" })).toBe(false);
    expect(listsSelf(r, { ...self, name: "r33" })).toBe(false);
    expect(listsSelf(markDead(r, [3], T0), self)).toBe(false);
    expect(listsSelf(r, { ...self, id: 9 })).toBe(false);
  });

  it("writes snapshots the wire schema accepts", () => {
    const snapshot = toSnapshot(markDead(tree(), [4], T0));
    expect(registrySnapshotSchema.parse(snapshot)).toEqual(snapshot);
    expect(snapshot.regions.map((x) => x.id)).toEqual([1, 2, 3, 4]);
  });
});

describe("replicas", () => {
  const snapshot = toSnapshot(tree());

  /** The snapshot with its regions changed by `edit`, everything else as published. */
  const forged = (edit: (regions: RegistrySnapshot["regions"]) => RegistrySnapshot["regions"]) => ({
    ...snapshot,
    regions: edit(snapshot.regions.map((x) => ({ ...x }))),
  });

  it("takes the first snapshot, then only newer ones", () => {
    const first = acceptSnapshot(undefined, snapshot, 1);
    expect(first.accepted).toBe(true);
    const held = first.accepted ? first.registry : undefined;
    expect(held && toSnapshot(held)).toEqual(snapshot);
    expect(acceptSnapshot(held, snapshot, 1)).toEqual({
      accepted: false,
      reason: `revision ${snapshot.revision} is not newer than ${snapshot.revision}`,
    });
    expect(acceptSnapshot(held, { ...snapshot, revision: 2 }, 1).accepted).toBe(false);
    expect(acceptSnapshot(held, { ...snapshot, revision: snapshot.revision + 7 }, 1).accepted).toBe(
      true,
    );
  });

  it("refuses a snapshot from a region other than the root", () => {
    const fromTwo = { ...snapshot, root: 2, revision: 99 };
    expect(acceptSnapshot(undefined, fromTwo, 1)).toEqual({
      accepted: false,
      reason: "snapshot names region 2 as root; the root is 1",
    });
  });

  it("refuses snapshots that are not one tree, saying why", () => {
    const reason = (s: RegistrySnapshot) => {
      const verdict = acceptSnapshot(undefined, s, 1);
      return verdict.accepted ? "accepted" : verdict.reason;
    };
    const rev = snapshot.revision;
    expect(reason(forged((rs) => [...rs, { ...rs[1]!, name: "twin" }]))).toBe(
      `snapshot ${rev} lists region 2 twice`,
    );
    expect(reason(forged((rs) => rs.map((x) => (x.id === 3 ? { ...x, name: "r2" } : x))))).toBe(
      `snapshot ${rev} gives the name "r2" to 2 and 3`,
    );
    expect(reason(forged((rs) => rs.map((x) => (x.id === 3 ? { ...x, parent: 42 } : x))))).toBe(
      `snapshot ${rev} gives region 3 the unknown parent 42`,
    );
    expect(reason(forged((rs) => rs.map((x) => (x.id === 2 ? { ...x, parent: 3 } : x))))).toBe(
      `snapshot ${rev} has a cycle through region 2`,
    );
    expect(reason(forged((rs) => rs.map((x) => (x.id === 4 ? { ...x, parent: 4 } : x))))).toBe(
      `snapshot ${rev} has a cycle through region 4`,
    );
    expect(
      reason(
        forged((rs) =>
          rs.map((x) => {
            if (x.id !== 4) return x;
            const { parent: _, ...rest } = x;
            return rest;
          }),
        ),
      ),
    ).toBe(`snapshot ${rev} has a second root: region 4`);
    expect(reason(forged((rs) => rs.map((x) => (x.id === 1 ? { ...x, parent: 2 } : x))))).toBe(
      `snapshot ${rev} gives the root 1 a parent`,
    );
    expect(reason(forged((rs) => rs.filter((x) => x.id !== 1)))).toBe(
      `snapshot ${rev} does not hold its root 1`,
    );
    expect(reason(forged((rs) => [...rs, { ...rs[3]!, id: 0, name: "zero" }]))).toBe(
      `snapshot ${rev} holds region id 0, out of range`,
    );
    expect(reason({ ...snapshot, revision: -1 })).toBe("revision -1 is not a revision");
  });

  it("keeps what it had when a snapshot is refused", () => {
    const first = acceptSnapshot(undefined, snapshot, 1);
    const held = first.accepted ? first.registry : undefined;
    const corrupt = {
      ...forged((rs) => rs.map((x) => (x.id === 2 ? { ...x, parent: 3 } : x))),
      revision: 50,
    };
    expect(acceptSnapshot(held, corrupt, 1).accepted).toBe(false);
    expect(held?.revision).toBe(snapshot.revision);
  });

  it("handles a long chain of regions without recursion or quadratic time", () => {
    let r = createRegistry(ROOT, T0);
    for (let id = 2; id <= 5_000; id++) r = accepted(applyAnnounce(r, announceOf(id, id - 1), T0));
    expect(pathToRoot(r, 5_000)).toHaveLength(5_000);
    const started = performance.now();
    expect(acceptSnapshot(undefined, toSnapshot(r), 1).accepted).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("converge on the root's registry whatever order and losses the snapshots meet", () => {
    // A seeded generator, so a failure replays.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let root = createRegistry(ROOT, T0);
    const published: RegistrySnapshot[] = [toSnapshot(root)];
    for (let step = 0; step < 200; step++) {
      const id = 2 + Math.floor(random() * 20);
      const now = T0 + step;
      const parent = random() < 0.5 ? 1 : 2 + Math.floor(random() * 20);
      const choice = random();
      const before = root.revision;
      if (choice < 0.6) {
        const verdict = applyAnnounce(root, announceOf(id, parent), now);
        if (verdict.accepted) root = verdict.registry;
      } else if (choice < 0.8) {
        const verdict = applyLeave(root, { id }, now);
        if (verdict.accepted) root = verdict.registry;
      } else {
        root = markDead(root, [id], now);
      }
      expect(root.revision - before).toBeLessThanOrEqual(1);
      if (root.revision !== before) published.push(toSnapshot(root));
    }
    expect(published.length).toBeGreaterThan(50);
    for (const snap of published) expect(acceptSnapshot(undefined, snap, 1).accepted).toBe(true);
    for (let replica = 0; replica < 5; replica++) {
      // Shuffled, a third lost, the newest always delivered last (as a catch-up would).
      const delivered = published
        .slice(0, -1)
        .filter(() => random() > 0.33)
        .sort(() => random() - 0.5);
      delivered.push(published.at(-1)!);
      let held: Registry | undefined;
      for (const snap of delivered) {
        const verdict = acceptSnapshot(held, snap, 1);
        if (verdict.accepted) held = verdict.registry;
      }
      expect(toSnapshot(held!)).toEqual(toSnapshot(root));
    }
  });
});
