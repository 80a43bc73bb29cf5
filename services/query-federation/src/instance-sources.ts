/**
 * Which source each instance reads, resolved against the worker's sources. Instances in the
 * form from before sources were shared declare their own database: each becomes a source named
 * after the instance, with a deprecation notice that shows the new form. Pure.
 */
import type { SourceConfig } from "@entente/connectors";
import {
  DEFAULT_COLUMN_NAMES,
  type InstanceConfig,
  type PrometheusInstanceConfig,
  type SourceInstanceConfig,
} from "./config.ts";

export type ResolvedInstance =
  | { name: string; kind: "entente"; subject: string; region?: string | number }
  | { name: string; kind: "source"; config: SourceInstanceConfig }
  | { name: string; kind: "prometheus"; config: PrometheusInstanceConfig };

export interface InstanceSources {
  instances: ResolvedInstance[];
  /** Sources the instances declared themselves (the old form), to add to the worker's. */
  declared: Record<string, SourceConfig>;
  /** One per instance in the old form: what to write instead. */
  notices: string[];
}

/** `defaultSubject`: where a `kind: entente` instance without a subject is asked. */
export function resolveInstanceSources(
  instances: Record<string, InstanceConfig>,
  defaultSubject: string,
): InstanceSources {
  const resolved: InstanceSources = { instances: [], declared: {}, notices: [] };
  for (const [name, config] of Object.entries(instances)) {
    switch (config.kind) {
      case "entente":
        resolved.instances.push({
          name,
          kind: "entente",
          subject: config.subject ?? defaultSubject,
        });
        break;
      case "region":
        resolved.instances.push({
          name,
          kind: "entente",
          subject: config.subject ?? defaultSubject,
          region: config.region,
        });
        break;
      case "source":
        resolved.instances.push({ name, kind: "source", config });
        break;
      case "prometheus":
        resolved.instances.push({ name, kind: "prometheus", config });
        break;
      default: {
        const { source, columns } = declaredSourceOf(config);
        resolved.declared[name] = source;
        resolved.instances.push({
          name,
          kind: "source",
          config: { kind: "source", source: name, table: config.table, columns },
        });
        resolved.notices.push(legacyNotice(name, source, config.table));
      }
    }
  }
  return resolved;
}

type LegacyInstance = Exclude<
  InstanceConfig,
  { kind: "entente" } | { kind: "region" } | { kind: "source" } | { kind: "prometheus" }
>;

/** The source an old-form instance declared, and its column mapping. */
function declaredSourceOf(config: LegacyInstance): {
  source: SourceConfig;
  columns: SourceInstanceConfig["columns"];
} {
  if (config.kind === "duckdb") {
    const source: SourceConfig = {
      kind: "duckdb",
      ...(config.path ? { path: config.path } : {}),
      ...(config.readOnly ? { readOnly: true } : {}),
    };
    return { source, columns: DEFAULT_COLUMN_NAMES };
  }
  const source = {
    kind: config.kind,
    url: config.url,
    ...(config.poolSize ? { poolSize: config.poolSize } : {}),
  } as SourceConfig;
  return { source, columns: config.columns };
}

function legacyNotice(name: string, source: SourceConfig, table: string): string {
  const fields = Object.entries(source)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join(", ");
  return (
    `instances.${name}: an instance that declares its database (kind: ${source.kind}) is deprecated and will be refused in the next release; ` +
    `declare the database once under sources: and name it: ` +
    `sources: { ${name}: { ${fields} } }  instances: { ${name}: { source: ${name}, table: ${table} } }`
  );
}
