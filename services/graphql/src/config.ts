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
  })
  .prefault({});

export type GraphqlSettings = z.output<typeof graphqlConfigSchema>;
