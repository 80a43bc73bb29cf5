/**
 * Which links exist and who runs them. Links come from the configuration file and from the
 * `entente_bridge_links` KV bucket (run-time additions, changes and removals, seen by every
 * worker). Each link is run by exactly one worker: the one holding its key in the
 * `entente_bridge_leases` bucket, whose entries expire after `leaseTtlMs` unless renewed by a
 * revision-checked update. A dead owner's lease expires and another worker creates it anew.
 */
import type { Logger } from "@entente/runtime";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type BridgeSettings, type LinkDefinition, linkSchema } from "./config.ts";
import { RunningLink } from "./link.ts";
import { BRIDGE_BUCKETS } from "./subjects.ts";

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
}

export class LinkRegistry {
  readonly workerId: string;
  private readonly nc: NatsConnection;
  private readonly settings: BridgeSettings;
  private readonly logger: Logger;
  private readonly runtime = new Map<string, RuntimeEntry>();
  private readonly owned = new Map<string, Owned>();
  private linksKv!: KV;
  private leasesKv!: KV;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private round: Promise<void> = Promise.resolve();

  constructor(options: {
    nc: NatsConnection;
    settings: BridgeSettings;
    logger: Logger;
    workerId: string;
  }) {
    this.nc = options.nc;
    this.settings = options.settings;
    this.logger = options.logger;
    this.workerId = options.workerId;
  }

  async start(): Promise<void> {
    const kvm = new Kvm(jetstream(this.nc));
    this.linksKv = await kvm.create(BRIDGE_BUCKETS.links, { history: 1 });
    this.leasesKv = await kvm.create(BRIDGE_BUCKETS.leases, {
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
        this.schedule();
      }
    })().catch((err: unknown) => this.logger.error({ err }, "link definitions watch ended"));
    this.schedule();
    const period = Math.max(200, Math.floor(this.settings.leaseTtlMs / 3));
    this.timer = setInterval(() => this.schedule(), period);
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
      this.logger.error({ err, link: key }, "ignoring an unreadable link definition");
    }
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

  owns(link: string): boolean {
    return this.owned.has(link);
  }

  ownedLinks(): RunningLink[] {
    return [...this.owned.values()].map((o) => o.running);
  }

  async putDefinition(link: string, definition: LinkDefinition): Promise<void> {
    await this.linksKv.put(link, JSON.stringify({ definition }));
  }

  async removeDefinition(link: string): Promise<void> {
    await this.linksKv.put(link, JSON.stringify({ removed: true }));
  }

  /** One round at a time: renew, release, acquire. */
  private schedule(): void {
    if (this.stopping) return;
    this.round = this.round.then(
      () => this.reconcile(),
      () => this.reconcile(),
    );
  }

  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    // Renew first and all at once, so stopping or starting links cannot delay a renewal.
    const lost = await Promise.all(
      [...this.owned].map(async ([link, owned]) => {
        try {
          owned.revision = await this.leasesKv.update(link, this.workerId, owned.revision);
          return undefined;
        } catch (err) {
          this.logger.warn({ link, err: String(err) }, "lease lost: stopping the link");
          this.owned.delete(link);
          return owned.running;
        }
      }),
    );
    await Promise.all(lost.map((running) => running?.stop()));
    const wanted = new Map(this.known().map((k) => [k.link, k]));
    for (const [link, owned] of this.owned) {
      const known = wanted.get(link);
      if (known === undefined) {
        await this.release(link, "removed");
        continue;
      }
      const fingerprint = JSON.stringify(known.definition);
      if (fingerprint !== owned.fingerprint) {
        this.logger.info({ link }, "link definition changed: restarting it");
        await owned.running.stop();
        owned.running = this.run(link, known.definition);
        owned.fingerprint = fingerprint;
      }
    }
    for (const [link, known] of wanted) {
      if (this.owned.has(link) || this.stopping) continue;
      let revision: number;
      try {
        revision = await this.leasesKv.create(link, this.workerId);
      } catch {
        continue; // another worker holds it
      }
      this.logger.info({ link, worker: this.workerId }, "link lease acquired");
      this.owned.set(link, {
        revision,
        running: this.run(link, known.definition),
        fingerprint: JSON.stringify(known.definition),
      });
    }
  }

  private run(link: string, definition: LinkDefinition): RunningLink {
    const running = new RunningLink({
      name: link,
      definition,
      settings: this.settings,
      nc: this.nc,
      owner: this.workerId,
      logger: this.logger,
    });
    running.start();
    return running;
  }

  private async release(link: string, why: string): Promise<void> {
    const owned = this.owned.get(link);
    if (owned === undefined) return;
    this.owned.delete(link);
    this.logger.info({ link, why }, "link released");
    await owned.running.stop();
    await this.leasesKv.delete(link, { previousSeq: owned.revision }).catch(() => {});
  }

  /** Stops every owned link and gives up its lease, so another worker takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.round.catch(() => {});
    await Promise.all([...this.owned.keys()].map((link) => this.release(link, "worker stopping")));
  }
}
