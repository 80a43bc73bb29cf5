/**
 * `entente.saga`: sagas started, listed and looked up. A saga is a named sequence of steps, each
 * an action and optionally its compensation; an action or compensation is one SQL statement run
 * through `entente.sql` or one NATS request. A step that fails for good has the compensations of
 * the steps before it run in reverse order.
 */
import { z } from "zod";

/** A saga id: a KV key and a subject-safe token, short enough for idempotency keys. */
export const SAGA_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The header carrying a NATS request step's idempotency key; receivers dedupe on it. */
export const SAGA_IDEMPOTENCY_HEADER = "entente-idempotency-key";

/** At most this many steps in one saga. */
export const MAX_SAGA_STEPS = 100;

const sagaIdSchema = z.string().regex(SAGA_ID, "a saga id is 1 to 128 letters, digits, '-' or '_'");

const timeoutMsSchema = z.number().int().positive().max(3_600_000);

/** One SQL statement, run through `entente.sql` with the execution's idempotency key. */
export const sagaSqlEffectSchema = z
  .object({
    kind: z.literal("sql"),
    sql: z.string().min(1, "sql must not be empty").max(1_000_000),
    params: z.array(z.unknown()).max(65_535).optional(),
    timeoutMs: timeoutMsSchema.optional(),
  })
  .strict();

/** One NATS request to any subject, with the idempotency key in a header. */
export const sagaRequestEffectSchema = z
  .object({
    kind: z.literal("request"),
    subject: z
      .string()
      .min(1)
      .max(512)
      .regex(/^[^\s*>]+$/, "subject must be a plain subject: no spaces or wildcards"),
    body: z.unknown().optional(),
    timeoutMs: timeoutMsSchema.optional(),
  })
  .strict();

export const sagaEffectSchema = z.discriminatedUnion("kind", [
  sagaSqlEffectSchema,
  sagaRequestEffectSchema,
]);

export type SagaEffect = z.output<typeof sagaEffectSchema>;

export const sagaStepSchema = z
  .object({
    name: z.string().min(1).max(200),
    action: sagaEffectSchema,
    /** Undoes the action; a step without one is left as it is when the saga compensates. */
    compensation: sagaEffectSchema.optional(),
  })
  .strict();

export type SagaStep = z.output<typeof sagaStepSchema>;

/** Retry policy of one saga; the `sagas` configuration section gives the defaults. */
export const sagaRetrySchema = z
  .object({
    /** Attempts of each action and each compensation, the first included. */
    maxAttempts: z.number().int().min(1).max(100).optional(),
    /** First pause before a retry; it doubles each time up to `maxBackoffMs`. */
    backoffMs: z.number().int().min(0).max(3_600_000).optional(),
    maxBackoffMs: z.number().int().min(0).max(86_400_000).optional(),
  })
  .strict();

export const sagaDefinitionSchema = z
  .object({
    steps: z.array(sagaStepSchema).min(1).max(MAX_SAGA_STEPS),
    retry: sagaRetrySchema.optional(),
  })
  .strict();

export type SagaDefinition = z.output<typeof sagaDefinitionSchema>;

/**
 * Where a saga is. `running`, `retrying` and `compensating` are under way; the others are final.
 * `needs_operator`: a compensation failed for good; its error says which and why.
 */
export const SAGA_STATES = [
  "running",
  "retrying",
  "compensating",
  "completed",
  "compensated",
  "needs_operator",
] as const;

export const sagaRequestSchema = z.discriminatedUnion("op", [
  z
    .object({
      op: z.literal("start"),
      /** A saga defined in the configuration, by name. */
      name: z.string().min(1).max(200).optional(),
      /** A saga sent whole. */
      saga: sagaDefinitionSchema.optional(),
      /** Chosen by the caller: starting the same id again returns the saga already there. */
      id: sagaIdSchema.optional(),
      /** Answer once the saga has ended (or at the request's deadline) instead of at once. */
      wait: z.boolean().optional(),
    })
    .strict()
    .refine((r) => (r.name === undefined) !== (r.saga === undefined), {
      message: "send name (a configured saga) or saga (a definition), one of the two",
      path: ["name"],
    }),
  z.object({ op: z.literal("get"), id: sagaIdSchema }).strict(),
  z
    .object({
      op: z.literal("list"),
      state: z.enum(SAGA_STATES).optional(),
      limit: z.number().int().min(1).max(10_000).optional(),
    })
    .strict(),
]);

export type SagaRequest = z.output<typeof sagaRequestSchema>;

export type SagaState = (typeof SAGA_STATES)[number];

export const FINAL_SAGA_STATES: readonly SagaState[] = [
  "completed",
  "compensated",
  "needs_operator",
];

export type SagaStepStatus =
  | "pending"
  | "running"
  | "done"
  | "failed"
  | "compensating"
  | "compensated"
  /** Done, and the saga compensated, but the step has no compensation. */
  | "not_compensated"
  | "compensation_failed";

export interface SagaError {
  code: string;
  message: string;
  retryable: boolean;
  /** When it happened (ms since the epoch). */
  at: number;
}

export interface SagaStepView {
  name: string;
  status: SagaStepStatus;
  attempts: number;
  compensationAttempts: number;
  /** The action's reply, as JSON-able data; a large one is cut to a preview. */
  result?: unknown;
  error?: SagaError;
  startedAt?: number;
  finishedAt?: number;
}

export interface SagaView {
  id: string;
  /** The configured saga's name, when started by name. */
  name?: string;
  state: SagaState;
  steps: SagaStepView[];
  /** Why the saga compensated, or why it needs an operator. */
  error?: SagaError;
  createdAt: number;
  updatedAt: number;
  /** The worker running it, while it runs. */
  owner?: string;
  traceId?: string;
}

export interface SagaStartReply {
  saga: SagaView;
  /** The id was taken: this is the saga started before, not a new one. */
  existing: boolean;
}

export interface SagaGetReply {
  saga: SagaView;
}

export interface SagaSummary {
  id: string;
  name?: string;
  state: SagaState;
  /** Steps done, of all. */
  done: number;
  steps: number;
  updatedAt: number;
  error?: string;
}

export interface SagaListReply {
  sagas: SagaSummary[];
}
