/**
 * The sources of one worker, shared by every service it runs: each configured source is opened
 * at most once (on first use), seeded at most once, and closed when the last service using the
 * pool lets go of it. Services of one worker find the same pool through the configuration
 * object they were started with, so no service re-declares or re-opens a database.
 */
import type { z } from "zod";
import { createConnector, sourcesConfigSchema } from "./create.ts";
import type { Connector, SourceConfig } from "./types.ts";

export class SourcePool {
  private readonly configs: Record<string, SourceConfig>;
  private readonly opening = new Map<string, Promise<Connector>>();
  private readonly seeded = new Map<string, Promise<void>>();
  private closed = false;

  constructor(configs: Record<string, SourceConfig>) {
    this.configs = { ...configs };
  }

  config(name: string): SourceConfig | undefined {
    return this.configs[name];
  }

  /**
   * Adds a source a service needs beyond the `sources:` section (its embedded demo data). The
   * same name with another configuration is a mistake worth stopping for.
   */
  define(name: string, config: SourceConfig): void {
    const known = this.configs[name];
    if (known === undefined) {
      this.configs[name] = config;
      return;
    }
    if (JSON.stringify(known) !== JSON.stringify(config)) {
      throw new Error(
        `source ${JSON.stringify(name)} is declared twice with different settings: ${JSON.stringify(known)} and ${JSON.stringify(config)}`,
      );
    }
  }

  names(): string[] {
    return Object.keys(this.configs);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.configs, name);
  }

  /**
   * The source's connector, opened on first use. A source that could not be opened is tried
   * again on the next call rather than remembered as failed: databases come back.
   */
  get(name: string): Promise<Connector> {
    if (this.closed) return Promise.reject(new Error(`the sources are closed; ${name} was asked`));
    const config = this.configs[name];
    if (config === undefined) {
      return Promise.reject(
        new Error(`unknown source ${JSON.stringify(name)} (known: ${this.names().join(", ")})`),
      );
    }
    let opening = this.opening.get(name);
    if (opening === undefined) {
      opening = createConnector(name, config);
      this.opening.set(name, opening);
      opening.catch(() => {
        if (this.opening.get(name) === opening) this.opening.delete(name);
      });
    }
    return opening;
  }

  /** Runs `seed` once per key for the life of the pool (demo data, a schema), however many ask. */
  once(key: string, seed: () => Promise<void>): Promise<void> {
    let done = this.seeded.get(key);
    if (done === undefined) {
      done = seed();
      this.seeded.set(key, done);
      done.catch(() => {
        if (this.seeded.get(key) === done) this.seeded.delete(key);
      });
    }
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    const open = [...this.opening.values()];
    this.opening.clear();
    await Promise.allSettled(open.map(async (connector) => (await connector).close()));
  }
}

export interface PoolLease {
  pool: SourcePool;
  /** Lets go of the pool; the last lease closes it. */
  release(): Promise<void>;
}

const shared = new WeakMap<object, { pool: SourcePool; leases: number }>();

/**
 * The pool of the worker that `owner` (its loaded configuration) belongs to, created from
 * `configs` by the first service that asks. Every service of the worker must pass the same
 * `configs`; the first one wins.
 */
export function leaseSourcePool(owner: object, configs: Record<string, SourceConfig>): PoolLease {
  let entry = shared.get(owner);
  if (entry === undefined) {
    entry = { pool: new SourcePool(configs), leases: 0 };
    shared.set(owner, entry);
  }
  entry.leases += 1;
  const held = entry;
  let released = false;
  return {
    pool: held.pool,
    async release() {
      if (released) return;
      released = true;
      held.leases -= 1;
      if (held.leases === 0) {
        if (shared.get(owner) === held) shared.delete(owner);
        await held.pool.close();
      }
    },
  };
}

/** What a worker's loaded configuration offers: its sections, validated on reading. */
export interface SectionReader {
  section<S extends z.ZodType>(key: string, schema: S): z.output<S>;
}

export const sourcesSectionSchema = sourcesConfigSchema.optional();

/**
 * The worker's sources as the `sources:` section declares them, leased for one service: every
 * service of the worker gets the same pool. `declared` lists the section's sources, undefined
 * when there is no section (a service then runs on its embedded default).
 */
export function leaseWorkerSources(
  config: SectionReader,
): PoolLease & { declared: string[] | undefined } {
  const section = config.section("sources", sourcesSectionSchema);
  const lease = leaseSourcePool(config, (section ?? {}) as Record<string, SourceConfig>);
  return { ...lease, declared: section === undefined ? undefined : Object.keys(section) };
}
