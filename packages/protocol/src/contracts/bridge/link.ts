/**
 * One link of the broker bridge: an upstream broker (NATS with a JetStream buffer, or
 * RabbitMQ), a downstream broker (NATS, JetStream or RabbitMQ) and how to carry messages
 * between them, as documented in docs/broker-bridge.md. The `bridge.links` configuration and
 * `entente.bridge.links.add` take the same definition.
 */
import { z } from "zod";
import { filterListProblems, publishSubjectProblem } from "./subject-rules.ts";
import { amqpUrlProblem, natsUrlProblem } from "./urls.ts";

/** The shortest first reconnect wait a link may configure: below it, failing links spin. */
export const RECONNECT_DELAY_FLOOR_MS = 100;

/** Link names become subject tokens (`entente.bridge.status.<link>`) and stream name parts. */
export const linkName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '-' and '_' (it becomes a subject token)")
  .max(64, "at most 64 characters");

/** A broker's identity on the loop-prevention path: no commas, it is a list element. */
const brokerId = z
  .string()
  .regex(/^[^,\s]+$/, "no commas or spaces")
  .optional();

/** Turns a check that returns what is wrong (or undefined) into a zod refinement. */
const checkedBy =
  (problemOf: (value: string) => string | undefined) =>
  (value: string, ctx: z.RefinementCtx): void => {
    const message = problemOf(value);
    if (message !== undefined) ctx.addIssue({ code: "custom", message });
  };

/** One stream holds a link's subjects, so they are bounded and checked as a set. */
const MAX_SUBJECTS = 256;

/** Subjects a link reads: wildcards allowed, no duplicates or overlaps. */
const filterSubjects = z
  .array(z.string())
  .min(1, "give at least one subject")
  .max(MAX_SUBJECTS, `at most ${MAX_SUBJECTS} subjects`)
  .superRefine((subjects, ctx) => {
    for (const [index, message] of filterListProblems(subjects)) {
      ctx.addIssue({ code: "custom", path: [index], message });
    }
  });

/** A subject messages are published under: no wildcards. */
const publishSubject = z.string().superRefine(checkedBy(publishSubjectProblem));

const tls = z.strictObject({
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
});

/**
 * A password or token: the value, `{ env: VARIABLE }` or `{ file: /path }`, read by the worker
 * that runs the link when it connects (as `secretReferenceSchema` in @entente/runtime).
 */
const secretSetting = z.union([
  z.string(),
  z.strictObject({ env: z.string().min(1, "name a variable") }),
  z.strictObject({ file: z.string().min(1, "name a file") }),
]);

/** Connection options shared by every NATS side of a link: those of the `nats:` section. */
const natsConnection = {
  url: z.string().superRefine(checkedBy(natsUrlProblem)),
  /** This broker on the path of forwarded messages; default its cluster name, else server name. */
  id: brokerId,
  user: z.string().optional(),
  pass: secretSetting.optional(),
  token: secretSetting.optional(),
  /** A file holding an NKey seed. */
  nkeySeedFile: z.string().optional(),
  credsFile: z.string().optional(),
  /** Reply inboxes of this side's connection, when its NATS permissions name a prefix. */
  inboxPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "subject tokens separated by dots, no wildcards")
    .optional(),
  tls: tls.optional(),
};

const amqpUrl = z.string().superRefine(checkedBy(amqpUrlProblem));

/** AMQP names and binding keys are short strings on the wire: 255 bytes at most. */
const amqpName = z
  .string()
  .min(1)
  .refine((name) => Buffer.byteLength(name) <= 255, "at most 255 bytes (an AMQP short string)");

const amqpConnection = {
  url: amqpUrl,
  /** This broker on the path; default the broker's cluster name. */
  id: brokerId,
  /** For amqps:// URLs: the CA and a client certificate (credentials go in the URL). */
  tls: tls.optional(),
};

export const natsUpstreamSchema = z.strictObject({
  kind: z.literal("nats"),
  ...natsConnection,
  subjects: filterSubjects,
  /**
   * The JetStream stream that buffers the subjects on the upstream server. Default
   * `ENTENTE_BRIDGE_<LINK>`, created by the link. Links fanning the same subjects out to several
   * downstreams name one shared stream (JetStream streams may not overlap in subjects).
   */
  stream: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
});

export const rabbitUpstreamSchema = z
  .strictObject({
    kind: z.literal("rabbitmq"),
    ...amqpConnection,
    /** An exchange whose messages matching `bindings` are buffered in the link's own queue. */
    exchange: amqpName.optional(),
    bindings: z
      .array(z.string().refine((key) => Buffer.byteLength(key) <= 255, "at most 255 bytes"))
      .min(1)
      .max(MAX_SUBJECTS, `at most ${MAX_SUBJECTS} bindings`)
      .optional(),
    /** Or an existing queue to consume from. */
    queue: amqpName.optional(),
  })
  .refine((u) => (u.exchange === undefined) !== (u.queue === undefined), {
    message: "give either exchange (with bindings) or queue",
  });

export const upstreamSchema = z.discriminatedUnion("kind", [
  natsUpstreamSchema,
  rabbitUpstreamSchema,
]);

export const natsDownstreamSchema = z.strictObject({
  kind: z.literal("nats"),
  ...natsConnection,
  /** Prepended to every subject (or routing key) as it arrives downstream. */
  subjectPrefix: publishSubject.optional(),
});

export const jetstreamDownstreamSchema = z.strictObject({
  kind: z.literal("jetstream"),
  ...natsConnection,
  /** The stream that must store what arrives; created with the link's subjects if missing. */
  stream: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '-' and '_'"),
  subjectPrefix: publishSubject.optional(),
});

export const rabbitDownstreamSchema = z.strictObject({
  kind: z.literal("rabbitmq"),
  ...amqpConnection,
  exchange: amqpName,
  /** Declared as a durable exchange of this type when missing; default topic. */
  exchangeType: z.enum(["topic", "direct", "fanout", "headers"]).default("topic"),
});

export const downstreamSchema = z.discriminatedUnion("kind", [
  natsDownstreamSchema,
  jetstreamDownstreamSchema,
  rabbitDownstreamSchema,
]);

export const linkSchema = z.strictObject({
  upstream: upstreamSchema,
  downstream: downstreamSchema,
  /** How many links a message may have crossed, this one included. */
  maxHops: z.number().int().min(1).max(64).default(1),
  /** Most unacknowledged messages in flight on the link. */
  prefetch: z.number().int().min(1).max(100_000).default(1000),
  /**
   * Wait before reconnecting after a failure, doubled with each failure in a row up to
   * `maxReconnectDelayMs`; a random jitter of up to half of it is added.
   */
  reconnectDelayMs: z
    .number()
    .int()
    .min(RECONNECT_DELAY_FLOOR_MS, `at least ${RECONNECT_DELAY_FLOOR_MS} ms`)
    .default(1000),
  /** The longest wait between reconnects; never below reconnectDelayMs. */
  maxReconnectDelayMs: z
    .number()
    .int()
    .min(RECONNECT_DELAY_FLOOR_MS, `at least ${RECONNECT_DELAY_FLOOR_MS} ms`)
    .default(30_000),
  /** Heartbeat (NATS ping, AMQP heartbeat) in seconds. */
  heartbeat: z.number().int().min(1).max(600).default(10),
  /** How long the upstream buffer (durable consumer, queue) outlives a vanished link, in ms. */
  expires: z.number().int().min(1000).optional(),
  /** How long a message may wait in the upstream buffer, in ms; older ones are not forwarded. */
  messageTtl: z.number().int().min(1).optional(),
});

export type LinkInput = z.input<typeof linkSchema>;
export type LinkDefinition = z.output<typeof linkSchema>;
export type NatsUpstream = z.output<typeof natsUpstreamSchema>;
export type RabbitUpstream = z.output<typeof rabbitUpstreamSchema>;
export type Upstream = z.output<typeof upstreamSchema>;
export type Downstream = z.output<typeof downstreamSchema>;
export type NatsDownstream = z.output<typeof natsDownstreamSchema>;
export type JetStreamDownstream = z.output<typeof jetstreamDownstreamSchema>;
export type RabbitDownstream = z.output<typeof rabbitDownstreamSchema>;
