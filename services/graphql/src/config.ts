/**
 * The `graphql:` configuration section. The API is off unless the section gives a port, except
 * on the embedded default (no `sources:` section), where it listens on 127.0.0.1:4000 so a
 * newcomer's first GraphQL query needs no configuration.
 */
import { z } from "zod";

/** Where the embedded default listens. */
export const EMBEDDED_GRAPHQL_PORT = 4000;

export const graphqlConfigSchema = z
  .strictObject({
    /** Off unless given (0 picks a free port); 4000 on the embedded default. */
    port: z.number().int().min(0).max(65535).optional(),
    host: z.string().min(1).default("127.0.0.1"),
    /** The GraphQL endpoint's path. */
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*$/, "path must start with / and hold only URL path characters")
      .refine((p) => p !== "/health", "path /health is the health check's")
      .default("/graphql"),
    /** Most rows one page of `query` holds; also its default page size. */
    pageRows: z.number().int().min(1).max(100_000).default(1000),
    /**
     * A field's budget when its `timeoutMs` names none; the `entente-timeout-ms` header, when
     * sent, bounds the whole request (else `runtime.maxTimeoutMs` does).
     */
    defaultTimeoutMs: z.number().int().min(1).default(30_000),
    /** How long a result with more pages is kept after its last page was read. */
    cursorTtlMs: z.number().int().min(1000).max(86_400_000).default(300_000),
    /** Most bytes (as JSON) of results kept for their later pages, all together. */
    maxKeptBytes: z
      .number()
      .int()
      .min(1024)
      .default(256 * 1024 * 1024),
    /** The largest request body taken. */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Most tokens a GraphQL document may have. */
    maxTokens: z.number().int().min(100).max(1_000_000).default(10_000),
    /** Deepest selection nesting a document may have (introspection needs about 13). */
    maxDepth: z.number().int().min(4).max(100).default(16),
    /**
     * Most fields a document may have, its fragments' included (introspection has about 70).
     * Checked before the validation, whose time grows with the square of the fields.
     */
    maxFields: z.number().int().min(100).max(100_000).default(500),
    /**
     * Most costly fields a document may select in all: `query`, `tableStats` and
     * `recommendedSource` (however aliased) and every mutation.
     */
    maxCostlyFields: z.number().int().min(1).max(1000).default(10),
    /**
     * Browser origins (`https://grafana.example.com`) allowed to read answers across origins.
     * None by default: answers carry no CORS headers, and browsers keep them from other sites.
     */
    corsOrigins: z
      .array(z.string().regex(/^https?:\/\/[^/\s]+$/, "an origin is scheme://host[:port]"))
      .default([]),
    /**
     * Host names (`graphql.example.com`, with `:port` if not the listening one) requests may be
     * addressed to besides `host`, `localhost` and `127.0.0.1`: others are refused (DNS rebinding).
     */
    allowedHosts: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

export type GraphqlSettings = z.output<typeof graphqlConfigSchema>;
