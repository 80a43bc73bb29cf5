/**
 * This region's copy of the registry. The root validates announces and leaves, signs each new
 * revision, keeps it and floods it; every other region passes announces on to the root, verifies
 * the snapshots it is sent or fetches, and keeps the newest.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type AnnounceAccepted,
  EntenteError,
  type RegionAnnounce,
  type RegionLeave,
  regionAnnounceSchema,
  regionLeaveSchema,
  regionRefusal,
} from "@entente/protocol";
import { EntenteClient, type Logger } from "@entente/runtime";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { type Flood, FROM_HEADER } from "./link-set.ts";
import {
  acceptSnapshot,
  applyAnnounce,
  applyLeave,
  createRegistry,
  markDead,
  type Registry,
  silentSince,
  toSnapshot,
  touch,
} from "./model/registry.ts";
import type { RouterOptions } from "./router.ts";
import {
  type RootSigner,
  rootSigner,
  type SignedSnapshot,
  signedSnapshotSchema,
  verifySnapshot,
} from "./signed-registry.ts";
import { encodeJson, jsonHeaders, readBody, respond, respondError } from "./wire.ts";

export interface RegionSelf {
  id: number;
  name: string;
  /** How other regions reach this region's NATS. */
  url: string;
  /** The parent's name, from the core `region.parent`; absent for the root and its children. */
  parentName?: string | undefined;
}

export interface RegistryEvents {
  /** A new registry is kept: told before it is flooded on (membership may start serving). */
  kept(registry: Registry): void;
  /** ...and once it is flooded on: what depends on the registry catches up with it. */
  settled(): void;
}

export interface RegistryKeeperOptions extends RouterOptions {
  /** The open connection to a neighbour, if any: catch-up asks the parent over it. */
  connectionTo(region: number): NatsConnection | undefined;
  flood: Flood;
  events: RegistryEvents;
  stopped(): boolean;
}

export class RegistryKeeper {
  private readonly o: RegistryKeeperOptions;
  private readonly log: Logger;
  private registry: Registry | undefined;
  private signed: SignedSnapshot | undefined;
  private rootKey: string | undefined;
  private signer: RootSigner | undefined;
  private joinNc: NatsConnection | undefined;

  constructor(options: RegistryKeeperOptions) {
    this.o = options;
    this.log = options.logger;
  }

  get isRoot(): boolean {
    return this.o.settings.join === undefined;
  }

  /** The registry as this region holds it; undefined until one is created, stored or fetched. */
  get current(): Registry | undefined {
    return this.registry;
  }

  /** Loads the root key and the kept registry; the root also its signing key and a first registry. */
  async restore(): Promise<void> {
    const { self, store } = this.o;
    this.rootKey = await store.get("root-key");
    const storedRegistry = await store.get("registry");
    if (this.isRoot) {
      const storedKey = await store.get("signing-key");
      this.signer = rootSigner(storedKey);
      this.rootKey = this.signer.publicKey;
      if (storedKey === undefined) {
        await store.put("signing-key", this.signer.privateKey);
        await store.put("root-key", this.rootKey);
      }
    }
    const kept = storedRegistry
      ? signedSnapshotSchema.safeParse(safeJson(storedRegistry))
      : undefined;
    if (kept?.success) this.takeSnapshot(kept.data, "store");
    else if (kept) this.log.warn("stored registry unreadable: starting without it");
    if (this.isRoot && this.registry === undefined) {
      this.setRegistry(createRegistry({ id: self.id, name: self.name, url: self.url }, Date.now()));
    } else if (this.isRoot && this.registry) {
      // The stored lastSeen values are as old as the last signed revision: the root heard
      // nothing while it was down, which is no sign of anyone's death.
      const now = Date.now();
      for (const id of this.registry.regions.keys()) this.registry = touch(this.registry, id, now);
    }
  }

  parentId(): number | undefined {
    const name = this.o.self.parentName;
    if (this.isRoot) return undefined;
    return name === undefined ? this.registry?.root : this.idOfName(name);
  }

  /** A region's id from its id or its name, as the registry knows it. */
  regionId(region: number | string): number | undefined {
    if (typeof region === "number") return this.registry?.regions.has(region) ? region : undefined;
    return /^\d+$/.test(region) ? this.regionId(Number(region)) : this.idOfName(region);
  }

  idOfName(name: string): number | undefined {
    for (const region of this.registry?.regions.values() ?? [])
      if (region.name === name) return region.id;
    return undefined;
  }

  /** Proof of life: the root must never mark a region dead that talks to it. */
  touch(region: number): void {
    if (this.isRoot && this.registry) this.registry = touch(this.registry, region, Date.now());
  }

  /** The root marks dead the active regions it has not heard from for too long. */
  markSilentDead(now: number): void {
    if (!this.isRoot || !this.registry) return;
    const silent = silentSince(this.registry, now - this.o.settings.deadAfterMs).filter(
      (id) => id !== this.o.self.id && this.registry?.regions.get(id)?.status === "active",
    );
    if (silent.length > 0) {
      this.log.warn({ regions: silent }, "regions silent too long: marked dead");
      this.setRegistry(markDead(this.registry, silent, now));
    }
  }

  /** First contact: the registry from where we join (pins the root key), then the announce. */
  async joinThrough(): Promise<void> {
    const url = this.o.settings.join as string;
    while (!this.o.stopped() && this.joinNc === undefined) {
      try {
        this.joinNc = await this.o.connect(url);
      } catch (err) {
        this.log.warn({ err: String(err), url }, "cannot reach the region to join yet");
        await sleep(1_000, undefined, { ref: false });
      }
    }
    await this.catchUp();
  }

  /** Asks the region we join through (or our parent) for its registry; keeps it if newer. */
  async catchUp(): Promise<void> {
    if (this.isRoot) return;
    const parent = this.parentId();
    const nc = (parent !== undefined ? this.o.connectionTo(parent) : undefined) ?? this.joinNc;
    if (!nc) return;
    try {
      const msg = await nc.request(this.o.subjects.router.registry, encodeJson({}), {
        timeout: 5_000,
        headers: jsonHeaders(),
      });
      const signed = readBody(msg, signedSnapshotSchema, "registry snapshot");
      // The first registry read pins the root's key: every later snapshot must carry it.
      if (this.rootKey === undefined) {
        this.rootKey = signed.key;
        await this.o.store.put("root-key", this.rootKey);
      }
      this.takeSnapshot(signed, "sync");
    } catch (err) {
      this.log.debug({ err: String(err) }, "registry catch-up failed");
    }
  }

  /** Membership's announce: sent through the region we join, with our parent's id. */
  async announce(announce: RegionAnnounce): Promise<AnnounceAccepted> {
    const nc = this.joinNc;
    if (!nc)
      throw new EntenteError("UNAVAILABLE", "the region to join through is not reachable yet");
    const parent = this.parentId();
    if (parent === undefined && this.o.self.parentName !== undefined) {
      await this.catchUp();
      throw new EntenteError(
        "UNAVAILABLE",
        `parent ${this.o.self.parentName} is not in the registry yet`,
      );
    }
    const body: RegionAnnounce = { ...announce, ...(parent !== undefined ? { parent } : {}) };
    try {
      const accepted = await new EntenteClient(nc, { encoding: "json" }).request<AnnounceAccepted>(
        this.o.subjects.router.announce,
        body,
        { timeoutMs: 5_000 },
      );
      // The revision that lists us exists now: fetch it rather than wait for a flood that may
      // reach us only once our links are open.
      if (!this.registry || this.registry.revision < accepted.revision) void this.catchUp();
      return accepted;
    } catch (err) {
      this.log.warn({ err: String(err), announce: body }, "announce not accepted");
      throw err;
    }
  }

  /** Tells the root this region leaves, through whichever region it can reach first. */
  async leave(leave: RegionLeave): Promise<void> {
    const root = this.registry?.root;
    if (this.isRoot) throw new EntenteError("BAD_REQUEST", "the root region cannot leave");
    const nc = this.joinNc ?? this.o.local;
    // Through the join connection it is the root's own subject; locally, a routed one.
    const subject =
      nc === this.joinNc || root === undefined
        ? this.o.subjects.router.leave
        : this.o.subjects.routed(root, this.o.subjects.router.leave);
    await new EntenteClient(nc, { encoding: "json" }).request(subject, leave, { timeoutMs: 5_000 });
    this.log.info({ region: leave.id }, "left the region hierarchy");
  }

  /** The root decides; any other router passes the announce on to the root. */
  async onAnnounce(msg: Msg): Promise<void> {
    if (!msg.reply) return;
    if (!this.isRoot) {
      const root = this.registry?.root;
      if (root === undefined) {
        respondError(
          this.o.local,
          msg,
          new EntenteError("UNAVAILABLE", "this region has not joined yet"),
        );
        return;
      }
      this.o.local.publish(
        this.o.subjects.routed(root, this.o.subjects.router.announce),
        msg.data,
        {
          reply: msg.reply,
          ...(msg.headers ? { headers: msg.headers } : {}),
        },
      );
      return;
    }
    try {
      const announce = readBody(msg, regionAnnounceSchema, "announce");
      const registry = this.registry as Registry;
      const verdict = applyAnnounce(registry, announce, Date.now());
      if (!verdict.accepted) {
        throw regionRefusal(
          `announce of region ${announce.id}`,
          verdict.problems,
          verdict.retryable,
        );
      }
      if (verdict.changed) {
        this.setRegistry(verdict.registry);
        this.log.info(
          { region: announce.id, name: announce.name, parent: announce.parent },
          "region joined",
        );
      } else {
        this.registry = verdict.registry;
      }
      const reply: AnnounceAccepted = { accepted: true, revision: verdict.registry.revision };
      respond(msg, reply);
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  onLeave(msg: Msg): void {
    if (!this.isRoot) {
      // As with announces: any router passes a leave on to the root.
      const root = this.registry?.root;
      if (root === undefined || !msg.reply) return;
      this.o.local.publish(this.o.subjects.routed(root, this.o.subjects.router.leave), msg.data, {
        reply: msg.reply,
        ...(msg.headers ? { headers: msg.headers } : {}),
      });
      return;
    }
    if (!this.registry) return;
    try {
      const leave = readBody(msg, regionLeaveSchema, "leave");
      const verdict = applyLeave(this.registry, leave, Date.now());
      if (verdict.accepted && verdict.changed) this.setRegistry(verdict.registry);
      if (msg.reply) respond(msg, { left: true, revision: this.registry.revision });
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  /** A snapshot a neighbour flooded on to us. */
  onSnapshotPush(msg: Msg): void {
    try {
      const signed = readBody(msg, signedSnapshotSchema, "registry snapshot");
      const refused = this.takeSnapshot(signed, Number(msg.headers?.get(FROM_HEADER)) || 0);
      if (refused !== undefined) throw new EntenteError("BAD_REQUEST", refused);
    } catch (err) {
      this.log.warn({ err: String(err).slice(0, 300) }, "registry snapshot refused");
      respondError(this.o.local, msg, err);
    }
  }

  answerRegistry(msg: Msg): void {
    if (!msg.reply) return;
    if (!this.signed) {
      respondError(
        this.o.local,
        msg,
        new EntenteError("UNAVAILABLE", "this region holds no registry yet"),
      );
      return;
    }
    respond(msg, this.signed);
  }

  async stop(): Promise<void> {
    await this.joinNc?.close().catch(() => {});
  }

  /** The root's registry changed: sign it, keep it, flood it. */
  private setRegistry(registry: Registry): void {
    this.registry = registry;
    const signer = this.signer as RootSigner;
    this.signed = signer.sign(toSnapshot(registry));
    void this.o.store.put("registry", JSON.stringify(this.signed));
    this.o.events.kept(registry);
    this.o.flood(this.o.subjects.router.registryPush, encodeJson(this.signed), undefined);
    this.o.events.settled();
  }

  /**
   * A snapshot from the store, a catch-up or a neighbour: verified, kept if newer, passed on.
   * Returns why it was refused when it is not one to keep (a stale one says nothing: undefined).
   */
  private takeSnapshot(
    signed: SignedSnapshot,
    from: "store" | "sync" | number,
  ): string | undefined {
    const key = this.rootKey;
    if (key === undefined) return "this region has not pinned the root's key yet";
    // Every neighbour floods each revision and catch-up asks again: a revision already held
    // says nothing new, so it is dropped before the signature is checked.
    if (this.registry && signed.snapshot.revision <= this.registry.revision) return undefined;
    const forged = verifySnapshot(signed, key);
    if (forged) {
      this.log.warn(
        { from, revision: signed.snapshot.revision },
        `registry snapshot refused: ${forged}`,
      );
      return `registry snapshot ${signed.snapshot.revision} refused: ${forged}`;
    }
    const verdict = acceptSnapshot(
      this.registry,
      signed.snapshot,
      this.registry?.root ?? signed.snapshot.root,
    );
    if (!verdict.accepted) {
      if (this.registry === undefined || signed.snapshot.revision > this.registry.revision) {
        this.log.warn({ from, reason: verdict.reason }, "registry snapshot refused");
        return `registry snapshot refused: ${verdict.reason}`;
      }
      return undefined;
    }
    this.registry = verdict.registry;
    this.signed = signed;
    if (from !== "store") void this.o.store.put("registry", JSON.stringify(signed));
    this.o.events.kept(verdict.registry);
    this.o.flood(
      this.o.subjects.router.registryPush,
      encodeJson(signed),
      typeof from === "number" ? from : undefined,
    );
    this.o.events.settled();
    return undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
