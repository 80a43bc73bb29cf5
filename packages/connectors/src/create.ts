import { EntenteError } from "@entente/protocol";
import { z } from "zod";
import { ColdstoreConnector } from "./coldstore/connector.ts";
import { DuckdbConnector } from "./duckdb.ts";
import { MysqlConnector } from "./mysql.ts";
import { PostgresConnector } from "./postgres.ts";
import type { Connector, SourceConfig } from "./types.ts";
import { parseDatabaseUrl } from "./urls.ts";

const poolSize = z
  .number({ error: "poolSize must be a number" })
  .int("poolSize must be a whole number")
  .min(1, "poolSize must be at least 1")
  .max(1000, "poolSize must be at most 1000")
  .optional();

const urlWith = (schemes: readonly string[], example: string) =>
  z.string({ error: `url must be a string like ${example}` }).refine(
    (url) => {
      try {
        parseDatabaseUrl("config", url, schemes, 0);
        return true;
      } catch {
        return false;
      }
    },
    { error: `url must look like ${example}` },
  );

export const postgresSourceConfigSchema = z.object({
  kind: z.literal("postgres"),
  url: urlWith(["postgres", "postgresql"], "postgres://user@host:5432/database"),
  poolSize,
});

export const mysqlSourceConfigSchema = z.object({
  kind: z.literal("mysql"),
  url: urlWith(["mysql", "mariadb"], "mysql://user@host:3306/database"),
  poolSize,
});

export const duckdbSourceConfigSchema = z.object({
  kind: z.literal("duckdb"),
  path: z.string().min(1, "path must not be empty").optional(),
  files: z
    .record(z.string(), z.string().min(1, "file paths must not be empty"))
    .refine((files) => Object.keys(files).every((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)), {
      error: "file view names must be plain identifiers",
    })
    .optional(),
  readOnly: z.boolean().optional(),
});

export const coldstoreSourceConfigSchema = z.object({
  kind: z.literal("coldstore"),
  path: z.string({ error: "path must be the store's directory" }).min(1, "path must not be empty"),
  targetFileBytes: z
    .number({ error: "targetFileBytes must be a number" })
    .int("targetFileBytes must be a whole number")
    .min(1024, "targetFileBytes must be at least 1024")
    .optional(),
  snapshotRetentionMs: z
    .number({ error: "snapshotRetentionMs must be a number" })
    .positive("snapshotRetentionMs must be positive")
    .optional(),
  orphanMinAgeMs: z
    .number({ error: "orphanMinAgeMs must be a number" })
    .min(0, "orphanMinAgeMs must be at least 0")
    .optional(),
  maxPartitions: z
    .number({ error: "maxPartitions must be a number" })
    .int("maxPartitions must be a whole number")
    .min(1, "maxPartitions must be at least 1")
    .optional(),
});

/** One source's configuration section: validated before `createConnector`. */
export const sourceConfigSchema = z.discriminatedUnion(
  "kind",
  [
    postgresSourceConfigSchema,
    mysqlSourceConfigSchema,
    duckdbSourceConfigSchema,
    coldstoreSourceConfigSchema,
  ],
  { error: 'kind must be one of "postgres", "mysql", "duckdb", "coldstore"' },
);

/** Named sources, as a service's config section holds them: `{ orders_db: { kind, url } }`. */
export const sourcesConfigSchema = z.record(z.string().min(1), sourceConfigSchema);

/**
 * Opens a connector and checks that the source answers. A source that cannot be reached is
 * an EntenteError UNAVAILABLE (retryable) naming it; a bad config is BAD_REQUEST.
 */
export async function createConnector(name: string, config: SourceConfig): Promise<Connector> {
  const parsed = sourceConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const path = issue.path.join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    });
    throw new EntenteError("BAD_REQUEST", `source "${name}": ${issues.join("; ")}`);
  }
  const valid = parsed.data as SourceConfig;
  switch (valid.kind) {
    case "postgres":
      return PostgresConnector.open(name, valid);
    case "mysql":
      return MysqlConnector.open(name, valid);
    case "duckdb":
      return DuckdbConnector.open(name, valid);
    case "coldstore":
      return ColdstoreConnector.open(name, valid);
  }
}
