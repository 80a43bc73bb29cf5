/**
 * An instance whose database may be down when the worker starts: it connects on first use and
 * again after a failed attempt, so a dead database is one failing instance, never a worker
 * that cannot start.
 */
import { EntenteError } from "@entente/protocol";
import type { FederatedQuery } from "../query.ts";
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
  private current: Promise<MetricInstance> | undefined;
  private readonly open: () => Promise<MetricInstance>;

  constructor(name: string, kind: InstanceKind, open: () => Promise<MetricInstance>) {
    this.name = name;
    this.kind = kind;
    this.open = open;
  }

  private instance(): Promise<MetricInstance> {
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
    const instance = await this.instance();
    if (instance.readSeries) return instance.readSeries(query, options);
    throw new EntenteError("UNSUPPORTED", `instance ${this.name} cannot read series`);
  }

  async readTagSets(
    query: FederatedQuery,
    options: FetchOptions,
  ): Promise<Record<string, string>[]> {
    const instance = await this.instance();
    if (instance.readTagSets) return instance.readTagSets(query, options);
    throw new EntenteError("UNSUPPORTED", `instance ${this.name} cannot list its series`);
  }

  async metricNames(signal: AbortSignal): Promise<string[]> {
    const instance = await this.instance();
    if (!instance.metricNames) throw unlisted(this.name);
    return instance.metricNames(signal);
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await (await current.catch(() => undefined))?.close();
  }
}

function unlisted(name: string): EntenteError {
  return new EntenteError("UNSUPPORTED", `instance ${name} cannot list its metric names`);
}
