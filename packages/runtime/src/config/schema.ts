import { DEFAULT_DEPLOYMENT, DEPLOYMENT_NAME } from "@entente/protocol";
import { z } from "zod";
import { secret } from "./secret.ts";

/** Region names become subject tokens (`entente.r.<region>.…`). */
const regionName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '-' and '_' (it becomes a subject token)");

/** `nats.servers` accepts one URL, a comma-separated list or a YAML list. */
const serverList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) =>
    (Array.isArray(value) ? value : value.split(","))
      .map((server) => server.trim())
      .filter((server) => server.length > 0),
  )
  .pipe(z.array(z.string().min(1)).min(1, "give at least one server"));

const KiB = 1024;

/** An inbox prefix: dot-separated subject tokens, no wildcards (NATS permissions name it). */
const inboxPrefix = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    "use subject tokens of letters, digits, '-' and '_' separated by dots, e.g. _INBOX.worker",
  );

export const natsSettingsSchema = z.strictObject({
  servers: serverList.optional(),
  /** Connection name shown by the server's monitoring. */
  name: z.string().optional(),
  user: z.string().optional(),
  /** A literal, `{ env: VARIABLE }` or `{ file: /path }`, read at load. */
  pass: secret.optional(),
  token: secret.optional(),
  /** A file holding an NKey seed (`SU…`); the server knows the user by its public key. */
  nkeySeedFile: z.string().optional(),
  /** A NATS credentials file (JWT and nkey seed). */
  credsFile: z.string().optional(),
  /**
   * Prefix of this process's reply and control inboxes (default `_INBOX`); with NATS permissions
   * that let each user read only its own prefix, nobody else reads its replies (docs/security.md).
   */
  inboxPrefix: inboxPrefix.optional(),
  tls: z
    .strictObject({
      /** CA to trust the server's certificate with, instead of the system's. */
      caFile: z.string().optional(),
      /** This client's certificate and key, for servers that verify clients (mutual TLS). */
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
    })
    .optional(),
  /** -1 retries for ever: a worker outlives any server restart. */
  maxReconnectAttempts: z.number().int().min(-1).default(-1),
  reconnectTimeWaitMs: z.number().int().positive().default(1000),
});

export const runtimeSettingsSchema = z.strictObject({
  /** Largest batch of a streamed reply: at least 256 KiB, well under the 1 MiB default max payload. */
  batchBytes: z
    .number()
    .int()
    .min(256 * KiB)
    .max(8 * 1024 * KiB)
    .default(256 * KiB),
  /** Batches a requester lets a producer run ahead. */
  streamCredit: z.number().int().min(1).max(1024).default(8),
  /** The most batches a producer runs ahead of any requester, whatever its `entente-credit`. */
  maxStreamCredit: z.number().int().min(1).max(1024).default(32),
  /**
   * Bytes of streamed batches this worker has sent and its readers have not yet read, across all
   * replies together; a batch that does not fit waits (a single batch always fits on its own).
   */
  maxUnreadStreamBytes: z
    .number()
    .int()
    .min(256 * KiB)
    .default(64 * 1024 * KiB),
  /** Larger requests are refused with TOO_LARGE before they are decoded. */
  maxRequestBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * KiB),
  /** Budget of a request that carries none. */
  defaultTimeoutMs: z.number().int().positive().default(30_000),
  /** No request may ask for more than this. */
  maxTimeoutMs: z.number().int().positive().default(300_000),
  /** A producer waiting this long for credit decides its consumer is gone. */
  consumerTimeoutMs: z.number().int().positive().default(30_000),
  /** On SIGTERM, how long in-flight work may take before the worker gives up on it. */
  shutdownGraceMs: z.number().int().positive().default(30_000),
  /** `GET /healthz` and `GET /readyz` for orchestrators on this port; off when absent (0: any). */
  probePort: z.number().int().min(0).max(65535).optional(),
  probeHost: z.string().min(1).default("127.0.0.1"),
  /**
   * Join a service whose running workers answer from a different configuration (their
   * fingerprints differ). Off: such a worker refuses to start. On for a rolling upgrade only.
   */
  allowMismatchedPeers: z.boolean().default(false),
  /** How long a starting worker listens for its peers' fingerprints (0: it does not ask). */
  peerCheckMs: z.number().int().min(0).max(10_000).default(300),
});

export const configSchema = z.looseObject({
  /**
   * Prefixes every subject and names every stream and bucket, so deployments sharing a NATS
   * server stay apart. `ENTENTE_DEPLOYMENT` sets it too.
   */
  deployment: z
    .string()
    .regex(
      DEPLOYMENT_NAME,
      "use at most 32 lower-case letters, digits, '-' and '_', starting with a letter",
    )
    .default(DEFAULT_DEPLOYMENT),
  region: z
    .strictObject({
      name: regionName.default("local"),
      /** 16-bit region id: the high bits of every id this region owns. */
      id: z.number().int().min(1).max(65535).default(1),
      parent: regionName.optional(),
    })
    .prefault({}),
  nats: natsSettingsSchema.prefault({}),
  runtime: runtimeSettingsSchema.prefault({}),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    })
    .prefault({}),
});

export type EntenteConfig = z.output<typeof configSchema>;
export type NatsSettings = z.output<typeof natsSettingsSchema>;
export type RuntimeSettings = z.output<typeof runtimeSettingsSchema>;
export type RegionSettings = EntenteConfig["region"];
