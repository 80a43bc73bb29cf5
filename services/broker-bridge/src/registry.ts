/**
 * Which links exist and who runs them. Links come from the configuration file and from the
 * `entente_bridge_links` KV bucket (run-time additions, changes and removals, seen by every
 * worker). Each link is run by exactly one worker: the one holding its key in the
 * `entente_bridge_leases` bucket, whose entries expire after `leaseTtlMs` unless renewed by a
 * revision-checked update. A dead owner's lease expires and another worker creates it anew.
 *
 * Leases are reconciled in rounds, one at a time; changes arriving during a round are taken up
 * by at most one more, however many arrive. A link removed from the definitions is stopped at
 * once, without waiting for a round; the round then gives its lease up.
 *
 * Workers share the links evenly. Each round a worker renews its presence (a `worker.<id>` key
 * in the same bucket, which no link name can be) and counts the live workers: it takes links
 * only up to its fair share, ceil(links / workers), and gives up what it holds beyond that share
 * once it has held too many for a whole lease lifetime, so a worker that joins is handed links
 * rather than standing idle. A link nobody has held for a lease lifetime is taken whatever the
 * share, so no link is left unrun by the arithmetic. The presence is written by the rounds
 * alone: a worker whose rounds are stuck stops counting, and the others take up its share.
 */
import { type LinkDefinition, linkSchema } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { BridgeSettings } from "./config.ts";
import { RunningLink } from "./link.ts";
import type { BridgeNames } from "./names.ts";
import { planShare } from "./share.ts";
import { ThrottledLog } from "./throttled-log.ts";

/** Lease writes in flight at once while acquiring: enough to take a thousand links in a round. */
const ACQUIRE_CONCURRENCY = 32;

/** Keys of worker presences in the leases bucket: link names cannot contain a dot. */
const WORKER_KEY_PREFIX = "worker.";

/** A run-time entry: a definition, or the removal of a link (configured ones included). */
export type RuntimeEntry = { definition: LinkDefinition } | { removed: true };

export interface KnownLink {
  link: string;
  source: "config" | "runtime";
  definition: LinkDefinition;
}

interface Owned {
  revision: number;
  running: RunningLink;
  fingerprint: string;
  /** The renewal in flight, which a release waits for so it deletes the current revision. */
  renewal?: Promise<void>;
  /**
   * Date.now() at which the lease may have expired: its last successful write was sent
   * `leaseTtlMs` before. Past it, another worker may hold the lease, so the link stops.
   */
  validUntil: number;
}

export class LinkRegistry {
  readonly workerId: string;
  private readonly nc: NatsConnection;
  private readonly settings: BridgeSettings;
  private readonly names: BridgeNames;
  private readonly logger: Logger;
  /** For lines that repeat per link (status, problems, lost leases). */
  private readonly log: ThrottledLog;
  private readonly runtime = new Map<string, RuntimeEntry>();
  private readonly owned = new Map<string, Owned>();
  private linksKv!: KV;
  private leasesKv!: KV;
  private timer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private round: Promise<void> = Promise.resolve();
  /** A round is queued and has not begun: it will see any change made until it does. */
  private roundQueued = false;
  /** Links seen without a lease, and since when. */
  private readonly unleasedSince = new Map<string, number>();
  /** Links whose lease was lost, while they stop: not taken again until they have. */
  private readonly stoppingLost = new Map<string, Promise<void>>();
  /** Since when this worker has held more than its share, as its rounds saw it. */
  private overShareSince: number | undefined;
  /** Links being released: their leases are renewed until they have stopped. */
  private readonly releasing = new Map<string, Owned>();

  constructor(options: {
    nc: NatsConnection;
    settings: BridgeSettings;
    names: BridgeNames;
    logger: Logger;
    workerId: string;
  }) {
    this.names = options.names;
    this.nc = options.nc;
    this.settings = options.settings;
    this.logger = options.logger;
    this.log = new ThrottledLog(options.logger);
    this.workerId = options.workerId;
  }

  /** Leases are renewed this often, three times per lease lifetime. */
  private get renewEveryMs(): number {
    return Math.max(200, Math.floor(this.settings.leaseTtlMs / 3));
  }

  async start(): Promise<void> {
    const kvm = new Kvm(jetstream(this.nc));
    this.linksKv = await kvm.create(this.names.linksBucket, { history: 1 });
    this.leasesKv = await kvm.create(this.names.leasesBucket, {
      history: 1,
      ttl: this.settings.leaseTtlMs,
    });
    // Read what is there before the first round, so a removed configured link never starts.
    for await (const key of await this.linksKv.keys()) {
      const entry = await this.linksKv.get(key);
      this.applyEntry(key, entry?.operation === "PUT" ? entry.value : undefined);
    }
    const watcher = await this.linksKv.watch({ include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const entry of watcher) {
        this.applyEntry(entry.key, entry.operation === "PUT" ? entry.value : undefined);
        this.stopIfUnwanted(entry.key);
        this.schedule();
      }
    })().catch((err: unknown) => this.logger.error({ err }, "link definitions watch ended"));
    this.schedule();
    this.timer = setInterval(() => this.schedule(), this.renewEveryMs);
    this.renewTimer = setInterval(() => this.renewAll(), this.renewEveryMs);
  }

  /**
   * Renews every lease, on a timer of its own: a round busy starting links or waiting on a loaded
   * server must not let a lease expire under a link that is running fine. Links being released
   * keep their leases until they have stopped, so the next owner never starts one early.
   */
  private renewAll(): void {
    const now = Date.now();
    for (const [link, owned] of [...this.owned, ...this.releasing]) {
      // Checked a renewal period ahead: the next check may come too late.
      if (this.owned.get(link) === owned && now + this.renewEveryMs >= owned.validUntil) {
        void this.lose(link, owned, "no renewal confirmed within the lease's lifetime");
        continue;
      }
      owned.renewal ??= this.renew(link, owned).finally(() => {
        owned.renewal = undefined;
      });
    }
  }

  private async renew(link: string, owned: Owned): Promise<void> {
    const sentAt = Date.now();
    try {
      owned.revision = await this.leasesKv.update(link, this.workerId, owned.revision);
      owned.validUntil = sentAt + this.settings.leaseTtlMs;
    } catch (err) {
      await this.lose(link, owned, String(err));
      return;
    }
    // Renewed after the link was given up as lost: once it has stopped, the lease must not keep
    // it from the others.
    if (this.owned.get(link) !== owned && this.releasing.get(link) !== owned) {
      await this.stoppingLost.get(link);
      await this.leasesKv.delete(link, { previousSeq: owned.revision }).catch(() => {});
    }
  }

  /** The lease is gone, or may be: the link stops before another worker may start it. */
  private async lose(link: string, owned: Owned, why: string): Promise<void> {
    if (this.owned.get(link) !== owned) return; // released meanwhile
    this.log.warn({ link, err: why }, "lease lost: stopping the link");
    this.owned.delete(link);
    const stopped = owned.running.stop();
    this.stoppingLost.set(link, stopped);
    await stopped.finally(() => this.stoppingLost.delete(link));
  }

  private applyEntry(key: string, value: Uint8Array | undefined): void {
    if (value === undefined || value.length === 0) {
      this.runtime.delete(key);
      return;
    }
    try {
      const parsed = JSON.parse(new TextDecoder().decode(value)) as {
        removed?: boolean;
        definition?: unknown;
      };
      if (parsed.removed) {
        this.runtime.set(key, { removed: true });
      } else {
        this.runtime.set(key, { definition: linkSchema.parse(parsed.definition) });
      }
    } catch (err) {
      this.log.error({ link: key, err: String(err) }, "ignoring an unreadable link definition");
    }
  }

  /** The definition in force for `link`: run-time entries win over the configuration. */
  private definitionOf(link: string): LinkDefinition | undefined {
    const entry = this.runtime.get(link);
    if (entry === undefined) return this.settings.links[link];
    return "removed" in entry ? undefined : entry.definition;
  }

  /** A removed link stops now: its connections, timers and lines end before the next round. */
  private stopIfUnwanted(link: string): void {
    const owned = this.owned.get(link);
    if (owned === undefined || this.definitionOf(link) !== undefined) return;
    void owned.running.stop();
  }

  /** Links in force: configured ones, overridden or removed by run-time entries. */
  known(): KnownLink[] {
    const out = new Map<string, KnownLink>();
    for (const [link, definition] of Object.entries(this.settings.links)) {
      out.set(link, { link, source: "config", definition });
    }
    for (const [link, entry] of this.runtime) {
      if ("removed" in entry) out.delete(link);
      else out.set(link, { link, source: "runtime", definition: entry.definition });
    }
    return [...out.values()].sort((a, b) => a.link.localeCompare(b.link));
  }

  ownedLinks(): RunningLink[] {
    return [...this.owned.values()].map((o) => o.running);
  }

  /** The link this worker runs under that name, if it runs it. */
  runningLink(link: string): RunningLink | undefined {
    return this.owned.get(link)?.running;
  }

  async putDefinition(link: string, definition: LinkDefinition): Promise<void> {
    await this.linksKv.put(link, JSON.stringify({ definition }));
  }

  async removeDefinition(link: string): Promise<void> {
    await this.linksKv.put(link, JSON.stringify({ removed: true }));
  }

  /** One round at a time: release, restart, balance, acquire. Requests while one is queued join it. */
  private schedule(): void {
    if (this.stopping || this.roundQueued) return;
    this.roundQueued = true;
    const next = () => {
      this.roundQueued = false;
      return this.reconcile();
    };
    this.round = this.round.then(next, next);
  }

  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    // Acquiring many links takes time; the round gives way, so changes made meanwhile are seen.
    const acquireUntil = Date.now() + this.renewEveryMs;
    const released: string[] = [];
    const restarted: Array<[string, Owned]> = [];
    for (const [link, owned] of this.owned) {
      const definition = this.definitionOf(link);
      if (definition === undefined) released.push(link);
      else if (owned.running.stopping || JSON.stringify(definition) !== owned.fingerprint) {
        restarted.push([link, owned]);
      }
    }
    await Promise.all(released.map((link) => this.release(link, "removed")));
    await Promise.all(restarted.map(([link, owned]) => this.restart(link, owned)));
    const plan = await this.planRound();
    if (plan === undefined) return;
    // Over the share for a whole lease lifetime: long enough that a dead worker's presence has
    // expired, so only a live newcomer is handed links.
    const now = Date.now();
    if (plan.excess.length === 0) this.overShareSince = undefined;
    else this.overShareSince ??= now;
    if (
      this.overShareSince !== undefined &&
      now - this.overShareSince >= this.settings.leaseTtlMs
    ) {
      this.overShareSince = undefined;
      await Promise.all(plan.excess.map((link) => this.release(link, "handed to another worker")));
    }
    let deferred = false;
    await forEachLimited(plan.acquire, ACQUIRE_CONCURRENCY, async (link) => {
      if (Date.now() < acquireUntil) await this.acquire(link);
      else deferred = true;
    });
    if (deferred) this.schedule();
  }

  /** Renews this worker's presence, reads who holds what, and plans this worker's share. */
  private async planRound(): Promise<ReturnType<typeof planShare> | undefined> {
    const leased = new Set<string>();
    // A set: a key written while the listing runs may be listed twice.
    const workers = new Set<string>();
    try {
      await this.leasesKv.put(this.presenceKey, "");
      for await (const key of await this.leasesKv.keys()) {
        if (key.startsWith(WORKER_KEY_PREFIX)) workers.add(key);
        else leased.add(key);
      }
    } catch (err) {
      this.log.warn(
        { err: String(err) },
        "could not read the link leases: trying again next round",
      );
      return undefined;
    }
    const known = this.known().map((k) => k.link);
    const now = Date.now();
    const unleased = new Set(known.filter((link) => !leased.has(link)));
    for (const link of this.unleasedSince.keys()) {
      if (!unleased.has(link)) this.unleasedSince.delete(link);
    }
    for (const link of unleased) {
      if (!this.unleasedSince.has(link)) this.unleasedSince.set(link, now);
    }
    return planShare({
      known,
      owned: [...this.owned.keys()],
      leased,
      workers: workers.size,
      unleasedSince: this.unleasedSince,
      now,
      leaseTtlMs: this.settings.leaseTtlMs,
    });
  }

  private get presenceKey(): string {
    return `${WORKER_KEY_PREFIX}${this.workerId}`;
  }

  /** Runs a link again with its definition in force: changed, or removed and added again. */
  private async restart(link: string, owned: Owned): Promise<void> {
    const why = owned.running.stopping ? "link added again" : "link definition changed";
    this.logger.info({ link }, `${why}: restarting it`);
    await owned.running.stop();
    // Read again after the wait: the link may have been changed or removed meanwhile.
    const definition = this.definitionOf(link);
    if (definition === undefined || this.stopping || this.owned.get(link) !== owned) return;
    owned.running = this.run(link, definition);
    owned.fingerprint = JSON.stringify(definition);
  }

  /** Takes the lease of a link no one holds and runs the link, unless it was removed meanwhile. */
  private async acquire(link: string): Promise<void> {
    if (this.stopping || this.owned.has(link) || this.stoppingLost.has(link)) return;
    const sentAt = Date.now();
    let revision: number;
    try {
      revision = await this.leasesKv.create(link, this.workerId);
    } catch {
      return; // another worker holds it
    }
    const definition = this.definitionOf(link);
    if (definition === undefined || this.stopping) {
      await this.leasesKv.delete(link, { previousSeq: revision }).catch(() => {});
      return;
    }
    this.logger.info({ link, worker: this.workerId }, "link lease acquired");
    this.owned.set(link, {
      revision,
      running: this.run(link, definition),
      fingerprint: JSON.stringify(definition),
      validUntil: sentAt + this.settings.leaseTtlMs,
    });
  }

  private run(link: string, definition: LinkDefinition): RunningLink {
    const running = new RunningLink({
      name: link,
      definition,
      settings: this.settings,
      names: this.names,
      nc: this.nc,
      owner: this.workerId,
      log: this.log,
    });
    running.start();
    return running;
  }

  private async release(link: string, why: string): Promise<void> {
    const owned = this.owned.get(link);
    if (owned === undefined) return;
    this.owned.delete(link);
    this.releasing.set(link, owned);
    this.logger.info({ link, why }, "link released");
    try {
      await owned.running.stop();
    } finally {
      this.releasing.delete(link);
    }
    await owned.renewal;
    await this.leasesKv.delete(link, { previousSeq: owned.revision }).catch(() => {});
  }

  /** Stops every owned link and gives up its lease, so another worker takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.round.catch(() => {});
    // Gone at once rather than at expiry, so the others reckon their shares without this worker.
    await this.leasesKv.delete(this.presenceKey).catch(() => {});
    await Promise.all([...this.owned.keys()].map((link) => this.release(link, "worker stopping")));
    await Promise.all(this.stoppingLost.values());
    // Renewals go on until the last link has stopped and given its lease up.
    if (this.renewTimer) clearInterval(this.renewTimer);
  }
}

/** Runs `task` on every item, at most `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
