import { codecFor, EntenteError, HEADERS, jsonCodec, subjectsOf } from "@entente/protocol";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { nuid } from "@nats-io/nuid";
import type { LoadedConfig } from "../config/load.ts";
import type { Logger } from "../logger.ts";
import { headerOf } from "../stream/frame-headers.ts";
import {
  type DispatchHost,
  dispatch,
  type InboundRequest,
  type InFlightRequest,
  type ReplySink,
} from "./dispatch.ts";
import { type HttpFrontDoor, startHttpFrontDoor } from "./http-door.ts";
import {
  discoverySubjects,
  type EndpointInfo,
  infoResponse,
  MICRO_VERBS,
  pingResponse,
  type ServiceIdentity,
  statsResponse,
} from "./micro.ts";
import { type NatsReplySettings, NatsReplySink } from "./nats-sink.ts";
import { askPeers, mismatchesIn, PEER_METADATA, type ServedEndpoint } from "./peers.ts";
import { EndpointStats } from "./stats.ts";
import { streamBudgetOf } from "./stream-budget.ts";
import type {
  EndpointDefinition,
  ServiceDefinition,
  ServiceEnvironment,
  ServiceInstance,
} from "./types.ts";

export interface HostedEndpoint {
  definition: EndpointDefinition;
  info: EndpointInfo;
  stats: EndpointStats;
  subscription: Subscription;
  maxRequestBytes: number;
}

/**
 * One service running on one connection: its endpoints on queue-group subscriptions, its
 * `$SRV` discovery and stats, and the bookkeeping that lets it stop without losing work. Every
 * request, whatever carried it, is served through {@link HostedService.dispatch}.
 */
export class HostedService {
  readonly identity: ServiceIdentity;
  private readonly endpoints: HostedEndpoint[] = [];
  private readonly discovery: Subscription[] = [];
  private readonly nc: NatsConnection;
  private readonly config: LoadedConfig;
  private readonly logger: Logger;
  private readonly instance: ServiceInstance;
  private readonly queueGroup: string;
  /** Requests still running after their dispatch call, so a shutdown can wait for or abort them. */
  private readonly inFlight = new Set<InFlightRequest>();
  private idleWaiters: Array<() => void> = [];
  private readonly host: DispatchHost;
  private readonly replySettings: NatsReplySettings;
  private accepting = true;
  /** The service's own HTTP front door, when it asked for one. */
  private door: HttpFrontDoor | undefined;

  private constructor(
    definition: ServiceDefinition,
    env: ServiceEnvironment,
    instance: ServiceInstance,
  ) {
    this.nc = env.nc;
    this.config = env.config;
    this.logger = env.logger.child({ component: definition.name });
    this.instance = instance;
    this.queueGroup = env.subjects.queueGroup(definition.name);
    const runtime = env.config.config.runtime;
    this.replySettings = {
      batchBytes: runtime.batchBytes,
      maxCredit: runtime.maxStreamCredit,
      consumerTimeoutMs: runtime.consumerTimeoutMs,
      // Unread bytes of streamed replies, shared with every service on this connection.
      budget: streamBudgetOf(env.nc, runtime.maxUnreadStreamBytes),
    };
    const inFlight = this.inFlight;
    this.host = {
      name: definition.name,
      region: env.config.config.region.name,
      defaultTimeoutMs: runtime.defaultTimeoutMs,
      maxTimeoutMs: runtime.maxTimeoutMs,
      logger: this.logger,
      hold: (request) => {
        inFlight.add(request);
      },
      release: (request) => {
        inFlight.delete(request);
        if (inFlight.size === 0) this.notifyIdle();
      },
    };
    this.identity = {
      name: definition.name,
      id: nuid.next(),
      version: definition.version,
      description: definition.description,
      metadata: {
        region: env.config.config.region.name,
        region_id: String(env.config.config.region.id),
        [PEER_METADATA.deployment]: env.subjects.deployment,
        state: "ready",
      },
      started: new Date().toISOString(),
    };
  }

  /** Starts `definition`; its subjects are those of the configured deployment unless given. */
  static async start(
    definition: ServiceDefinition,
    given: Omit<ServiceEnvironment, "subjects"> & Partial<Pick<ServiceEnvironment, "subjects">>,
  ): Promise<HostedService> {
    const env = {
      ...given,
      subjects: given.subjects ?? subjectsOf(given.config.config.deployment),
    };
    const instance = await definition.start(env);
    try {
      await checkPeers(definition.name, instance, env);
    } catch (err) {
      await instance.stop?.();
      throw err;
    }
    const hosted = new HostedService(definition, env, instance);
    for (const endpoint of instance.endpoints) hosted.listen(endpoint);
    hosted.answerDiscovery();
    // Make sure the server has every subscription before anyone is told we are up.
    await env.nc.flush();
    if (instance.http) await hosted.openDoor(instance.http);
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

  /** False once the service has begun to stop. */
  get isAccepting(): boolean {
    return this.accepting;
  }

  /** The service's own HTTP front door, when its instance declared one. */
  get http(): HttpFrontDoor | undefined {
    return this.door;
  }

  /**
   * Stops taking new work: endpoint subscriptions drain (what the server already sent us is
   * still handled), so NATS routes new requests to the other workers of the queue group.
   */
  async stopAccepting(): Promise<void> {
    if (!this.accepting) return;
    this.accepting = false;
    this.identity.metadata.state = "draining";
    this.door?.stopAccepting();
    await Promise.allSettled(this.endpoints.map((e) => e.subscription.drain()));
  }

  /** Waits for in-flight requests; past `graceMs` they are aborted. True when all finished. */
  async settle(graceMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const inTime = await Promise.race([this.idle().then(() => true), timedOut]);
    clearTimeout(timer);
    if (!inTime) {
      this.logger.warn(
        { inFlight: this.inFlight.size },
        "shutdown grace exceeded: aborting in-flight requests",
      );
      const reason = new EntenteError("SHUTTING_DOWN", `${this.name} is shutting down`);
      for (const request of [...this.inFlight]) request.abort(reason);
      await this.idle();
    }
    return inTime;
  }

  /** Settles once no request is in flight. */
  private idle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Full stop: no new work, in-flight finished (within `graceMs`), discovery withdrawn. */
  async stop(graceMs = this.config.config.runtime.shutdownGraceMs): Promise<void> {
    await this.stopAccepting();
    await this.settle(graceMs);
    await this.door?.close();
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

  /** The endpoint named `name`, or listening on subject `name`; undefined when there is none. */
  endpoint(name: string): HostedEndpoint | undefined {
    return (
      this.endpoints.find((e) => e.definition.name === name) ??
      this.endpoints.find((e) => e.definition.subject === name)
    );
  }

  /**
   * Serves one request on `endpoint` and answers it through `sink`: the path every front door
   * takes (spans, deadline, stats, error mapping). Undefined when the request was answered
   * within the call, else a promise that settles once it has been.
   */
  dispatch(
    endpoint: HostedEndpoint,
    inbound: InboundRequest,
    sink: ReplySink,
  ): Promise<void> | undefined {
    const work = dispatch(this.host, endpoint, inbound, sink);
    // Every failure is answered and counted inside; anything escaping is a bug worth a log line.
    work?.catch((err: unknown) =>
      this.logger.error({ err, subject: inbound.subject }, "request path failed"),
    );
    return work;
  }

  private async openDoor(http: NonNullable<ServiceInstance["http"]>): Promise<void> {
    const { onListening, ...options } = http;
    try {
      this.door = await startHttpFrontDoor({ ...options, services: this, routes: http.routes });
    } catch (err) {
      // The endpoints listen already: take them down again rather than run half started.
      await this.stop(0);
      throw err;
    }
    this.logger.info({ url: this.door.url }, "HTTP front door listening");
    onListening?.(this.door);
  }

  private listen(definition: EndpointDefinition): void {
    const queue = definition.queue === false ? undefined : (definition.queue ?? this.queueGroup);
    const fingerprint = fingerprintOf(definition, this.instance);
    const metadata = {
      ...(definition.description ? { description: definition.description } : {}),
      ...(fingerprint ? { [PEER_METADATA.fingerprint]: fingerprint } : {}),
    };
    const hosted: HostedEndpoint = {
      definition,
      info: {
        name: definition.name,
        subject: definition.subject,
        queue_group: queue ?? "",
        ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
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
          this.onMessage(hosted, msg);
        },
      }),
    };
    this.endpoints.push(hosted);
  }

  private onMessage(endpoint: HostedEndpoint, msg: Msg): void {
    const headers = msg.headers;
    // The stock `nats` CLI sends headers as typed: match the content type in any case.
    const codec = codecFor(headerOf(headers, HEADERS.contentType));
    const data = msg.data;
    this.dispatch(
      endpoint,
      { subject: msg.subject, data, bytes: data.length, headers, codec, transport: "nats" },
      new NatsReplySink(this.nc, msg.reply, headers, codec, this.replySettings),
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

/** What an endpoint's answers depend on: its own fingerprint, else its service's. */
function fingerprintOf(definition: EndpointDefinition, instance: ServiceInstance) {
  return definition.fingerprint ?? instance.fingerprint;
}

/**
 * Refuses to join running workers that serve one of this service's subjects in the same queue
 * group from another configuration, unless `runtime.allowMismatchedPeers` (a rolling upgrade)
 * lets it join with an error in the log.
 */
async function checkPeers(
  service: string,
  instance: ServiceInstance,
  env: ServiceEnvironment,
): Promise<void> {
  const { peerCheckMs, allowMismatchedPeers } = env.config.config.runtime;
  const queueGroup = env.subjects.queueGroup(service);
  // Subscriptions outside a queue group reach every worker: nobody takes turns on them.
  const served: ServedEndpoint[] = instance.endpoints.flatMap((e) => {
    const fingerprint = fingerprintOf(e, instance);
    return e.queue === false || fingerprint === undefined
      ? []
      : [{ subject: e.subject, queue: e.queue ?? queueGroup, fingerprint }];
  });
  if (served.length === 0 || peerCheckMs === 0) return;
  const replies = await askPeers(env.nc, service, peerCheckMs);
  const mismatches = replies.flatMap((r) => mismatchesIn(r, env.subjects.deployment, served));
  if (mismatches.length === 0) return;
  const list = mismatches
    .map((m) => `${m.subject}: worker ${m.id} has ${m.theirs}, this worker ${m.mine}`)
    .join("; ");
  const message = `running ${service} workers of deployment ${env.subjects.deployment} answer from another configuration (fingerprints differ on ${list})`;
  env.logger.error(
    { service, mismatches, allowMismatchedPeers },
    allowMismatchedPeers
      ? `${message}: joining anyway, as runtime.allowMismatchedPeers allows`
      : `${message}: not joining`,
  );
  if (!allowMismatchedPeers) {
    throw new Error(
      `${message}; give every worker the same configuration, use another deployment name, or set runtime.allowMismatchedPeers for a rolling upgrade`,
    );
  }
}
