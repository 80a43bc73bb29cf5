import {
  codecFor,
  EntenteError,
  HEADERS,
  jsonCodec,
  parseMessage,
  queueGroupOf,
  toEntenteError,
} from "@entente/protocol";
import { Match, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { nuid } from "@nats-io/nuid";
import { context } from "@opentelemetry/api";
import type { LoadedConfig } from "../config/load.ts";
import { Deadline } from "../deadline.ts";
import type { Logger } from "../logger.ts";
import {
  type ByteBudget,
  errorReply,
  type SendReplyResult,
  sendReply,
  streamRequestOptions,
} from "../stream/index.ts";
import { startServerHop } from "../tracing/hop-spans.ts";
import {
  discoverySubjects,
  type EndpointInfo,
  infoResponse,
  MICRO_VERBS,
  pingResponse,
  type ServiceIdentity,
  statsResponse,
} from "./micro.ts";
import { EndpointStats } from "./stats.ts";
import { streamBudgetOf } from "./stream-budget.ts";
import {
  type EndpointDefinition,
  type RequestContext,
  replyBodyOf,
  type ServiceDefinition,
  type ServiceEnvironment,
  type ServiceInstance,
} from "./types.ts";

interface HostedEndpoint {
  definition: EndpointDefinition;
  info: EndpointInfo;
  stats: EndpointStats;
  subscription: Subscription;
  maxRequestBytes: number;
}

/**
 * One service running on one connection: its endpoints on queue-group subscriptions, its
 * `$SRV` discovery and stats, and the bookkeeping that lets it stop without losing work.
 */
export class HostedService {
  readonly identity: ServiceIdentity;
  private readonly endpoints: HostedEndpoint[] = [];
  private readonly discovery: Subscription[] = [];
  private readonly nc: NatsConnection;
  private readonly config: LoadedConfig;
  private readonly logger: Logger;
  private readonly instance: ServiceInstance;
  /** Each in-flight request's controller, so a forced shutdown can abort them all. */
  private readonly controllers = new Set<AbortController>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Unread bytes of streamed replies, shared with every service on this connection. */
  private readonly streamBudget: ByteBudget;
  private accepting = true;

  private constructor(
    definition: ServiceDefinition,
    env: ServiceEnvironment,
    instance: ServiceInstance,
  ) {
    this.nc = env.nc;
    this.config = env.config;
    this.logger = env.logger.child({ component: definition.name });
    this.instance = instance;
    this.streamBudget = streamBudgetOf(env.nc, env.config.config.runtime.maxUnreadStreamBytes);
    this.identity = {
      name: definition.name,
      id: nuid.next(),
      version: definition.version,
      description: definition.description,
      metadata: {
        region: env.config.config.region.name,
        region_id: String(env.config.config.region.id),
      },
      started: new Date().toISOString(),
    };
  }

  static async start(
    definition: ServiceDefinition,
    env: ServiceEnvironment,
  ): Promise<HostedService> {
    const instance = await definition.start(env);
    const hosted = new HostedService(definition, env, instance);
    for (const endpoint of instance.endpoints) hosted.listen(endpoint);
    hosted.answerDiscovery();
    // Make sure the server has every subscription before anyone is told we are up.
    await env.nc.flush();
    hosted.logger.info(
      { id: hosted.identity.id, endpoints: instance.endpoints.length },
      "service started",
    );
    return hosted;
  }

  get name(): string {
    return this.identity.name;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Stops taking new work: endpoint subscriptions drain (what the server already sent us is
   * still handled), so NATS routes new requests to the other workers of the queue group.
   */
  async stopAccepting(): Promise<void> {
    if (!this.accepting) return;
    this.accepting = false;
    await Promise.allSettled(this.endpoints.map((e) => e.subscription.drain()));
  }

  /** Waits for in-flight requests; past `graceMs` they are aborted. True when all finished. */
  async settle(graceMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.allSettled([...this.inFlight]).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const inTime = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (!inTime) {
      this.logger.warn(
        { inFlight: this.inFlight.size },
        "shutdown grace exceeded: aborting in-flight requests",
      );
      const reason = new EntenteError("SHUTTING_DOWN", `${this.name} is shutting down`);
      for (const controller of this.controllers) controller.abort(reason);
      await Promise.allSettled([...this.inFlight]);
    }
    return inTime;
  }

  /** Full stop: no new work, in-flight finished (within `graceMs`), discovery withdrawn. */
  async stop(graceMs = this.config.config.runtime.shutdownGraceMs): Promise<void> {
    await this.stopAccepting();
    await this.settle(graceMs);
    for (const sub of this.discovery) sub.unsubscribe();
    await this.instance.stop?.();
    this.logger.info({ id: this.identity.id }, "service stopped");
  }

  stats() {
    return statsResponse(
      this.identity,
      this.endpoints.map(({ info, stats }) => ({ info, stats })),
      this.instance.stats?.(),
    );
  }

  info() {
    return infoResponse(
      this.identity,
      this.endpoints.map((e) => e.info),
    );
  }

  private listen(definition: EndpointDefinition): void {
    const queue =
      definition.queue === false ? undefined : (definition.queue ?? queueGroupOf(this.name));
    const hosted: HostedEndpoint = {
      definition,
      info: {
        name: definition.name,
        subject: definition.subject,
        queue_group: queue ?? "",
        ...(definition.description ? { metadata: { description: definition.description } } : {}),
      },
      stats: new EndpointStats(),
      maxRequestBytes: definition.maxRequestBytes ?? this.config.config.runtime.maxRequestBytes,
      subscription: this.nc.subscribe(definition.subject, {
        ...(queue ? { queue } : {}),
        callback: (err, msg) => {
          if (err) {
            this.logger.error({ err, subject: definition.subject }, "subscription failed");
            return;
          }
          this.track(this.handle(hosted, msg));
        },
      }),
    };
    this.endpoints.push(hosted);
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** One request: check, decode, validate, run within the deadline, reply (in batches). */
  private async handle(endpoint: HostedEndpoint, msg: Msg): Promise<void> {
    const started = process.hrtime.bigint();
    const { definition, stats } = endpoint;
    const runtime = this.config.config.runtime;
    const headers = msg.headers;
    // The stock `nats` CLI sends headers as typed: match the content type in any case.
    const codec = codecFor(headers?.get(HEADERS.contentType, Match.IgnoreCase));
    const hop = startServerHop(headers, {
      subject: msg.subject,
      service: this.name,
      region: this.config.config.region.name,
      requestBytes: msg.data.length,
    });
    stats.begin(msg.data.length);
    // One controller and one timer per request, both released at the end: composite and
    // timeout signals would each leave a timer behind for the whole budget.
    const controller = new AbortController();
    this.controllers.add(controller);
    let deadlineTimer: NodeJS.Timeout | undefined;
    let responseBytes = 0;
    let batches = 0;
    let failure: EntenteError | undefined;
    const serverTime = () => ({ [HEADERS.serverTimeUs]: String(hop.elapsedUs()) });
    try {
      if (msg.data.length > endpoint.maxRequestBytes) {
        throw new EntenteError(
          "TOO_LARGE",
          `request of ${msg.data.length} bytes exceeds the limit of ${endpoint.maxRequestBytes} bytes for ${definition.subject}`,
          { details: { bytes: msg.data.length, limit: endpoint.maxRequestBytes } },
        );
      }
      const deadline = Deadline.fromHeader(headers?.get(HEADERS.timeoutMs) || undefined, {
        defaultMs: runtime.defaultTimeoutMs,
        maxMs: runtime.maxTimeoutMs,
      });
      if (deadline.expired())
        throw deadline.error(`${definition.subject} arrived with no time left`);
      const decoded = codec.decode(msg.data);
      const request = definition.schema
        ? parseMessage(definition.schema, decoded, `${definition.name} request`)
        : decoded;

      deadlineTimer = setTimeout(
        () => controller.abort(deadline.error(definition.subject)),
        deadline.remainingMs(),
      );
      const signal = controller.signal;
      const requestContext: RequestContext = {
        subject: msg.subject,
        headers,
        deadline,
        signal,
        trace: hop.context,
        logger: this.logger,
      };
      const result = await context.with(hop.context, () =>
        untilAborted(
          Promise.resolve().then(() => definition.handler(request, requestContext)),
          signal,
          () => abortReason(signal, deadline, definition.subject),
        ),
      );
      if (!msg.reply) return;
      const sent = await sendReply(this.nc, msg.reply, replyBodyOf(result), {
        codec,
        batchBytes: runtime.batchBytes,
        ...streamRequestOptions(headers),
        maxCredit: runtime.maxStreamCredit,
        budget: this.streamBudget,
        signal,
        consumerTimeoutMs: runtime.consumerTimeoutMs,
        finalHeaders: serverTime,
        // A requester's cancel or disappearance reaches the handler through its signal.
        onStop: (outcome) =>
          controller.abort(new EntenteError("CANCELLED", `${definition.subject}: ${outcome}`)),
      });
      responseBytes = sent.bytes;
      batches = sent.batches;
      if (sent.rejectedControls !== undefined) {
        this.noteRejectedControls(endpoint, sent.rejectedControls, msg.subject);
      }
      if (sent.outcome !== "completed") failure = replyFailure(sent, definition.subject);
    } catch (err) {
      failure = toEntenteError(err);
      if (failure.code === "INTERNAL") {
        this.logger.error({ err, subject: msg.subject }, "handler failed");
      }
      if (msg.reply) {
        const reply = errorReply(failure, codec, serverTime());
        responseBytes = reply.data.length;
        try {
          this.nc.publish(msg.reply, reply.data, { headers: reply.headers });
        } catch (publishErr) {
          this.logger.warn({ err: publishErr, subject: msg.subject }, "could not send error reply");
        }
      }
    } finally {
      clearTimeout(deadlineTimer);
      this.controllers.delete(controller);
      const elapsedNs = Number(process.hrtime.bigint() - started);
      stats.end(elapsedNs, responseBytes, failure);
      hop.end({ responseBytes, responseBatches: batches, ...(failure ? { error: failure } : {}) });
    }
  }

  /** Control messages for a stream that its requester did not send: worth an operator's look. */
  private noteRejectedControls(endpoint: HostedEndpoint, rejected: number, subject: string): void {
    endpoint.stats.rejectedControls += rejected;
    this.logger.warn(
      { subject, rejected },
      "refused stream control messages its requester did not send",
    );
  }

  private answerDiscovery(): void {
    for (const verb of MICRO_VERBS) {
      for (const subject of discoverySubjects(verb, this.identity.name, this.identity.id)) {
        this.discovery.push(
          this.nc.subscribe(subject, {
            callback: (err, msg) => {
              if (err || !msg.reply) return;
              const body =
                verb === "PING"
                  ? pingResponse(this.identity)
                  : verb === "INFO"
                    ? this.info()
                    : this.stats();
              msg.respond(jsonCodec.encode(body));
            },
          }),
        );
      }
    }
  }
}

/** Why a reply did not complete, for the stats and the span. */
function replyFailure(sent: SendReplyResult, subject: string): EntenteError {
  if (sent.error) return sent.error;
  const code = sent.outcome === "consumer-gone" ? "CONSUMER_GONE" : "CANCELLED";
  return new EntenteError(code, `reply on ${subject} ended: ${sent.outcome}`);
}

/** Settles with the work, or rejects as soon as the signal aborts — whichever comes first. */
function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal,
  reason: () => EntenteError,
): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function abortReason(signal: AbortSignal, deadline: Deadline, subject: string): EntenteError {
  if (signal.reason instanceof EntenteError) return signal.reason;
  if (deadline.expired()) return deadline.error(subject);
  return new EntenteError("CANCELLED", `${subject}: request cancelled`);
}
