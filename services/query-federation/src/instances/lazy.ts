/**
 * An instance whose database may be down when the worker starts: it connects on first use and
 * again after a failed attempt, so a dead database is one failing instance, never a worker
 * that cannot start.
 */
import type { FederatedQuery } from "../query.ts";
import type { SqlInstance } from "./sql-instance.ts";
import type {
  FetchOptions,
  InstanceKind,
  MetricInstance,
  PartialsResult,
  RawResult,
  SeriesSamples,
} from "./types.ts";

export class LazyInstance implements MetricInstance {
  readonly name: string;
  readonly kind: InstanceKind;
  private current: Promise<SqlInstance> | undefined;
  private readonly open: () => Promise<SqlInstance>;

  constructor(name: string, kind: InstanceKind, open: () => Promise<SqlInstance>) {
    this.name = name;
    this.kind = kind;
    this.open = open;
  }

  private instance(): Promise<SqlInstance> {
    if (!this.current) {
      const opening = this.open();
      this.current = opening;
      opening.catch(() => {
        if (this.current === opening) this.current = undefined;
      });
    }
    return this.current;
  }

  async fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult> {
    return (await this.instance()).fetchRaw(query, options);
  }

  async fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult> {
    return (await this.instance()).fetchPartials(query, options);
  }

  async readSeries(query: FederatedQuery, options: FetchOptions): Promise<SeriesSamples[]> {
    return (await this.instance()).readSeries(query, options);
  }

  async readTagSets(
    query: FederatedQuery,
    options: FetchOptions,
  ): Promise<Record<string, string>[]> {
    return (await this.instance()).readTagSets(query, options);
  }

  async metricNames(signal: AbortSignal): Promise<string[]> {
    return (await this.instance()).metricNames(signal);
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await (await current.catch(() => undefined))?.close();
  }
}
