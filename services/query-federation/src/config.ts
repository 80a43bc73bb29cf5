/**
 * Configuration: the `instances:` section (each names a source of the worker's `sources:`, or
 * another federation) and this service's `queryFederation:` section (routing, replica groups,
 * limits, cache, breaker, retries, ingest, HTTP).
 */
import type { SourceConfig } from "@entente/connectors";
import { DEFAULT_LOOKBACK_MS } from "@entente/promql";
import { type DeploymentSubjects, streamNameOf } from "@entente/protocol";
import { z } from "zod";

/** Most samples one PromQL evaluation holds by default (see `promql.maxSamples`). */
export const DEFAULT_PROMQL_MAX_SAMPLES = 10_000_000;

const name = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, "instance names use letters, digits, '-' and '_'");
const identifier = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/,
    "a plain (optionally schema-qualified) identifier",
  );

const columnsSchema = z
  .strictObject({
    metric: z.string().min(1).default("metric"),
    tags: z.string().min(1).default("tags"),
    time: z.string().min(1).default("time"),
    value: z.string().min(1).default("value"),
    timeFormat: z.enum(["ns", "timestamp"]).default("ns"),
  })
  .prefault({});

/** The points table's column names when an instance names none. */
export const DEFAULT_COLUMN_NAMES = columnsSchema.parse(undefined);

/** A points table in a source of the `sources:` section, which says where the database is. */
const sourceInstance = z.strictObject({
  kind: z.literal("source"),
  source: z.string().min(1, "source must name a source of the sources: section"),
  table: identifier.default("points"),
  /** For PostgreSQL and MySQL sources; a DuckDB store has its own layout. */
  columns: columnsSchema,
});

const ententeInstance = z.strictObject({
  kind: z.literal("entente"),
  /**
   * The other federation's query subject (its internal one is `<subject>.federate`); by
   * default this deployment's `<deployment>.query`.
   */
  subject: z.string().min(1).optional(),
});

/**
 * The federation of another region, reached through the region routers: edge → regional →
 * global hierarchies that span regions, with the same exact merges as `kind: entente`.
 */
const regionInstance = z.strictObject({
  kind: z.literal("region"),
  /** The region's name or id. */
  region: z.union([
    z.number().int().min(1).max(65535),
    z.string().regex(/^[A-Za-z0-9_-]+$/, "a region's name: letters, digits, '-' and '_'"),
  ]),
  /** Its federation's query subject; by default this deployment's `<deployment>.query`. */
  subject: z.string().min(1).optional(),
});

/**
 * A Prometheus server, or anything speaking its HTTP API (Thanos, VictoriaMetrics): PromQL is
 * pushed down to it, and `entente.query` reads its samples.
 */
const prometheusInstance = z.strictObject({
  kind: z.literal("prometheus"),
  /** Base URL; the API is under `<url>/api/v1/`. */
  url: z.url({
    protocol: /^https?$/,
    error: "url must be the server's base URL, such as http://127.0.0.1:9090",
  }),
  /** Sent with every call, e.g. `authorization: Bearer …`. */
  headers: z.record(z.string().min(1), z.string()).optional(),
  /** Longest a call may take, below the query's own time and `instanceTimeoutMs`. */
  timeoutMs: z.number().int().min(1).optional(),
});

/**
 * The form before sources were shared: the instance declared its own database. Still read, with
 * a deprecation warning that shows the new form (see `declaredSourceOf`).
 */
const legacyDuckdbInstance = z.strictObject({
  kind: z.literal("duckdb"),
  path: z.string().min(1).optional(),
  table: identifier.default("points"),
  readOnly: z.boolean().default(false),
});

const legacySqlInstance = (kind: "postgres" | "mysql", example: string) =>
  z.strictObject({
    kind: z.literal(kind),
    url: z.string().min(1, `url must be a database URL such as ${example}`),
    table: identifier.default("points"),
    columns: columnsSchema,
    poolSize: z.number().int().min(1).max(1000).optional(),
  });

/** An instance with a `source` and no `kind` is a source instance. */
function withImpliedKind(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return "kind" in value || !("source" in value) ? value : { ...value, kind: "source" };
}

export const instanceSchema = z.preprocess(
  withImpliedKind,
  z.discriminatedUnion(
    "kind",
    [
      sourceInstance,
      ententeInstance,
      regionInstance,
      prometheusInstance,
      legacyDuckdbInstance,
      legacySqlInstance("postgres", "postgres://user@host:5432/metrics"),
      legacySqlInstance("mysql", "mysql://user@host:3306/metrics"),
    ],
    {
      error:
        'an instance names a source ({ source: <name>, table }), another federation ({ kind: "entente" }), another region\'s ({ kind: "region", region }) or a Prometheus server ({ kind: "prometheus", url })',
    },
  ),
);
export type InstanceConfig = z.output<typeof instanceSchema>;
export type SourceInstanceConfig = z.output<typeof sourceInstance>;
export type PrometheusInstanceConfig = z.output<typeof prometheusInstance>;

export const instancesSchema = z.record(name, instanceSchema).optional();

export const queryFederationSchema = z
  .strictObject({
    /**
     * Where queries are taken (default `<deployment>.query`); `<subject>.federate` and
     * `<subject>.stats` sit next to it.
     */
    subject: z.string().min(1).optional(),
    /**
     * PromQL: where queries are taken (default `<deployment>.promql`, or beside a `subject` of
     * the federation's own; `.series`, `.labels` and `.values` beside it) and how far back an
     * instant selector looks for a sample.
     */
    promql: z
      .strictObject({
        subject: z.string().min(1).optional(),
        lookbackDeltaMs: z.number().int().min(1).max(86_400_000).default(DEFAULT_LOOKBACK_MS),
        /**
         * Most samples one evaluation holds (Prometheus' query.max-samples, 50M there): samples
         * here are JavaScript objects, several times larger than Prometheus' 16 bytes.
         */
        maxSamples: z.number().int().min(1).max(1_000_000_000).default(DEFAULT_PROMQL_MAX_SAMPLES),
      })
      .prefault({}),
    parallelism: z.number().int().min(1).max(1024).default(16),
    instanceTimeoutMs: z.number().int().min(1).default(10_000),
    defaultTimeoutMs: z.number().int().min(1).default(30_000),
    limits: z
      .strictObject({
        maxPoints: z.number().int().min(1).default(1_000_000),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(256 * 1024 * 1024),
      })
      .prefault({}),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(10).default(2),
        backoffMs: z.number().int().min(1).default(50),
        maxBackoffMs: z.number().int().min(1).default(1_000),
      })
      .prefault({}),
    breaker: z
      .strictObject({
        failureThreshold: z.number().int().min(1).default(5),
        openMs: z.number().int().min(1).default(10_000),
      })
      .prefault({}),
    cache: z
      .strictObject({
        enabled: z.boolean().default(false),
        maxEntries: z.number().int().min(1).default(1_000),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
        ttlMs: z.number().int().min(1).default(60_000),
      })
      .prefault({}),
    router: z
      .array(
        z.strictObject({ tag: z.string().min(1), routes: z.record(z.string(), z.array(name)) }),
      )
      .default([]),
    replicaGroups: z
      .record(
        name,
        z.strictObject({
          instances: z.array(name).min(1),
          read: z.enum(["one", "merge"]).default("one"),
        }),
      )
      .default({}),
    ingest: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Default `<DEPLOYMENT>_INGEST`. */
        stream: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .optional(),
        /**
         * Points for instance X are published to `<subjectPrefix>.X` and validated there
         * (default `<deployment>.ingest`).
         */
        subjectPrefix: z.string().min(1).optional(),
        /**
         * Where validated batches for X go into the stream: `<streamSubjectPrefix>.X` (default
         * `<deployment>.ingested`).
         */
        streamSubjectPrefix: z.string().min(1).optional(),
        /** How long the stream keeps batches (0: for ever); stores rebuild from what it keeps. */
        maxAgeMs: z.number().int().min(0).default(0),
        maxBatchPoints: z.number().int().min(1).default(100_000),
        /** A store write that fails is tried again this way before its batch is dead-lettered. */
        writeRetry: z
          .strictObject({
            attempts: z.number().int().min(1).max(20).default(6),
            backoffMs: z.number().int().min(1).default(250),
            maxBackoffMs: z.number().int().min(1).default(5_000),
          })
          .prefault({}),
        /** Batches no store could write, kept with the reason: `<subjectPrefix>.X.<sequence>`. */
        deadLetter: z
          .strictObject({
            /** Default `<DEPLOYMENT>_INGEST_DLQ`. */
            stream: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .optional(),
            /** Default `<deployment>.ingest-dlq`. */
            subjectPrefix: z.string().min(1).optional(),
            maxAgeMs: z.number().int().min(0).default(0),
          })
          .prefault({}),
      })
      .prefault({}),
    http: z
      .strictObject({
        /** Off unless a port is given (0 picks a free one). */
        port: z.number().int().min(0).max(65535).optional(),
        host: z.string().default("127.0.0.1"),
      })
      .prefault({}),
    /** Loads a day of demo metrics into the embedded default's instances. */
    demo: z.boolean().optional(),
  })
  .prefault({});
/** The section as written: the names a deployment owns may be left to their defaults. */
export type QueryFederationSection = z.output<typeof queryFederationSchema>;
type SectionIngest = QueryFederationSection["ingest"];

/** The section with every subject and stream name filled in for its deployment. */
export type QueryFederationConfig = Omit<QueryFederationSection, "subject" | "ingest"> & {
  subject: string;
  promqlSubject: string;
  ingest: Omit<SectionIngest, "stream" | "subjectPrefix" | "streamSubjectPrefix" | "deadLetter"> & {
    stream: string;
    subjectPrefix: string;
    streamSubjectPrefix: string;
    deadLetter: SectionIngest["deadLetter"] & { stream: string; subjectPrefix: string };
  };
};

/**
 * PromQL's subject by default: the deployment's, or beside a query subject of the federation's
 * own (`entente.r.eu.query` → `entente.r.eu.promql`), so two federations never share it.
 */
function promqlSubjectBeside(
  querySubject: string | undefined,
  subjects: DeploymentSubjects,
): string {
  if (querySubject === undefined || querySubject === subjects.query) return subjects.promql;
  return querySubject.endsWith(".query")
    ? `${querySubject.slice(0, -".query".length)}.promql`
    : `${querySubject}.promql`;
}

/** Fills in the subjects and streams the section left to the deployment's defaults. */
export function federationSettingsOf(
  section: QueryFederationSection,
  subjects: DeploymentSubjects,
): QueryFederationConfig {
  const { ingest } = section;
  return {
    ...section,
    subject: section.subject ?? subjects.query,
    promqlSubject: section.promql.subject ?? promqlSubjectBeside(section.subject, subjects),
    ingest: {
      ...ingest,
      stream: ingest.stream ?? streamNameOf(subjects.deployment, "INGEST"),
      subjectPrefix: ingest.subjectPrefix ?? subjects.ingestPrefix,
      streamSubjectPrefix: ingest.streamSubjectPrefix ?? subjects.ingested,
      deadLetter: {
        ...ingest.deadLetter,
        stream: ingest.deadLetter.stream ?? streamNameOf(subjects.deployment, "INGEST_DLQ"),
        subjectPrefix: ingest.deadLetter.subjectPrefix ?? subjects.ingestDeadLetter,
      },
    },
  };
}

/** The embedded default: two instances on two in-memory DuckDB sources with demo metrics. */
export const DEFAULT_INSTANCES: Record<string, InstanceConfig> = {
  "edge-a": { kind: "source", source: "metrics_a", table: "points", columns: DEFAULT_COLUMN_NAMES },
  "edge-b": { kind: "source", source: "metrics_b", table: "points", columns: DEFAULT_COLUMN_NAMES },
};

/** The sources of the embedded default's instances, added to the worker's sources. */
export const DEMO_METRIC_SOURCES: Record<string, SourceConfig> = {
  metrics_a: { kind: "duckdb" },
  metrics_b: { kind: "duckdb" },
};

/** Checks references between sections: routes and replica groups name known instances. */
export function crossCheck(
  instances: Record<string, InstanceConfig>,
  settings: QueryFederationConfig,
): string[] {
  const known = new Set(Object.keys(instances));
  const problems: string[] = [];
  settings.router.forEach((rule, i) => {
    for (const [value, names] of Object.entries(rule.routes)) {
      for (const n of names) {
        if (!known.has(n))
          problems.push(`queryFederation.router.${i}.routes.${value}: unknown instance ${n}`);
      }
    }
  });
  for (const [group, { instances: members }] of Object.entries(settings.replicaGroups)) {
    for (const n of members) {
      if (!known.has(n))
        problems.push(`queryFederation.replicaGroups.${group}: unknown instance ${n}`);
    }
  }
  problems.push(...ingestSubjectProblems(settings.ingest));
  return problems;
}

/**
 * The public ingest subjects, the stream's and the dead letters' must not overlap: a stream
 * that captured the public subject would store batches before they are validated.
 */
function ingestSubjectProblems(ingest: QueryFederationConfig["ingest"]): string[] {
  const prefixes = [
    ["subjectPrefix", ingest.subjectPrefix],
    ["streamSubjectPrefix", ingest.streamSubjectPrefix],
    ["deadLetter.subjectPrefix", ingest.deadLetter.subjectPrefix],
  ] as const;
  const problems: string[] = [];
  prefixes.forEach(([name, prefix], i) => {
    for (const [otherName, other] of prefixes.slice(i + 1)) {
      if (prefix === other || prefix.startsWith(`${other}.`) || other.startsWith(`${prefix}.`)) {
        problems.push(
          `queryFederation.ingest.${name} and ${otherName} overlap (${prefix}, ${other}): give each its own subjects`,
        );
      }
    }
  });
  return problems;
}
