/**
 * A running link: the link machine with its session actors provided, and its status published
 * on `entente.bridge.status.<link>` at every change and every status interval.
 */
import {
  jsonCodec,
  type LinkCounters,
  type LinkDefinition,
  type LinkStatus,
  type LinkStatusName,
} from "@entente/protocol";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Actor, createActor, fromCallback, fromPromise } from "xstate";
import { reconnectDelay, withJitter } from "./backoff.ts";
import type { BridgeSettings } from "./config.ts";
import { type LinkEvent, linkMachine, statusOf } from "./link-machine.ts";
import type { BridgeNames } from "./names.ts";
import { emptyCounters, openSession, type Session } from "./session.ts";
import { notForwarded } from "./status.ts";
import type { ThrottledLog } from "./throttled-log.ts";

export interface RunningLinkOptions {
  name: string;
  definition: LinkDefinition;
  settings: BridgeSettings;
  names: BridgeNames;
  /** The worker's own connection, for status. */
  nc: NatsConnection;
  owner: string;
  log: ThrottledLog;
}

/** Counters across sessions: a restart does not reset what a link has done. */
function addCounters(total: LinkCounters, session: LinkCounters, base: LinkCounters): LinkCounters {
  const out = { ...total };
  for (const key of Object.keys(out) as Array<keyof LinkCounters>) {
    out[key] = total[key] + session[key] - base[key];
  }
  return out;
}

export class RunningLink {
  readonly name: string;
  readonly definition: LinkDefinition;
  private readonly options: RunningLinkOptions;
  private readonly actor: Actor<typeof linkMachine>;
  private readonly timer: NodeJS.Timeout;
  private status: LinkStatusName = "starting";
  private since = new Date();
  private session: Session | undefined;
  /** Counters of closed sessions. */
  private closedCounters = emptyCounters();
  private lastSample = { at: Date.now(), forwarded: 0, notForwarded: 0 };
  private lastForwardedAt: number | undefined;
  private lastProblem: string | undefined;
  private stopped: Promise<void> | undefined;

  constructor(options: RunningLinkOptions) {
    this.name = options.name;
    this.definition = options.definition;
    this.options = options;
    const { name, definition, settings, names, log } = options;
    const machine = linkMachine.provide({
      actors: {
        openSession: fromPromise(async ({ signal }) => {
          const session = await openSession({
            link: name,
            definition,
            settings,
            names,
            log,
            signal,
          });
          this.session = session;
          return session;
        }),
        runSession: fromCallback<LinkEvent, { session: unknown; tickMs: number }>(
          ({ input, sendBack }) => {
            const session = input.session as Session;
            let live = true;
            session
              .start({
                upstreamDown: (reason) => sendBack({ type: "UPSTREAM_DOWN", reason }),
                upstreamUp: () => sendBack({ type: "UPSTREAM_UP" }),
                downstreamDown: (reason) => sendBack({ type: "DOWNSTREAM_DOWN", reason }),
                downstreamUp: () => sendBack({ type: "DOWNSTREAM_UP" }),
                failed: (reason) => {
                  if (live) sendBack({ type: "SESSION_FAILED", reason });
                },
              })
              .catch((err: unknown) => {
                if (live)
                  sendBack({
                    type: "SESSION_FAILED",
                    reason: String((err as Error)?.message ?? err),
                  });
              });
            const tick = setInterval(() => {
              session.lag().then(
                (lag) => {
                  if (live) {
                    sendBack({
                      type: "TICK",
                      lag,
                      forwarded: session.counters.forwarded,
                      now: Date.now(),
                    });
                  }
                },
                () => {},
              );
            }, input.tickMs);
            return () => {
              live = false;
              clearInterval(tick);
            };
          },
        ),
        closeSession: fromPromise(async ({ input }: { input: { session: unknown } }) => {
          const session = input.session as Session | undefined;
          if (session === undefined) return;
          this.retire(session);
          await session.close().catch(() => {});
        }),
      },
      delays: {
        // Jitter, so links of many workers do not reconnect in step.
        reconnectDelay: ({ context }) =>
          withJitter(reconnectDelay(context, context.failures), Math.random()),
      },
    });
    this.actor = createActor(machine, {
      input: {
        link: name,
        reconnectDelayMs: definition.reconnectDelayMs,
        maxReconnectDelayMs: definition.maxReconnectDelayMs,
        stallAfterMs: settings.stallAfterMs,
        tickMs: Math.min(1000, Math.max(100, Math.floor(settings.stallAfterMs / 4))),
      },
    });
    this.actor.subscribe((snapshot) => {
      const status = statusOf(snapshot.value);
      if (status !== this.status) {
        this.status = status;
        this.since = new Date();
        const quiet = ["connected", "connecting", "starting", "shutting_down", "stopped"];
        const level = quiet.includes(status) ? "info" : "warn";
        log[level]({ link: name, status, reason: snapshot.context.reason }, "link status");
        this.publish();
      }
    });
    this.timer = setInterval(() => this.publish(), settings.statusIntervalMs);
    this.timer.unref();
  }

  start(): void {
    this.actor.start();
    this.publish();
  }

  private retire(session: Session): void {
    if (this.session !== session) return;
    this.closedCounters = this.counters();
    this.lastProblem = session.lastProblem ?? this.lastProblem;
    this.lastForwardedAt = session.lastForwardedAt ?? this.lastForwardedAt;
    this.session = undefined;
  }

  counters(): LinkCounters {
    const session = this.session;
    return session
      ? addCounters(this.closedCounters, session.counters, emptyCounters())
      : { ...this.closedCounters };
  }

  snapshot(): LinkStatus {
    const now = Date.now();
    const counters = this.counters();
    const elapsed = Math.max(1, now - this.lastSample.at) / 1000;
    const skipped = notForwarded(counters);
    const rates = {
      forwarded: Math.round((counters.forwarded - this.lastSample.forwarded) / elapsed),
      notForwarded: Math.round((skipped - this.lastSample.notForwarded) / elapsed),
    };
    const context = this.actor.getSnapshot().context;
    const lastForwardedAt = this.session?.lastForwardedAt ?? this.lastForwardedAt;
    return {
      link: this.name,
      status: this.status,
      since: this.since.toISOString(),
      reason: context.reason,
      lag: context.lag,
      rates,
      lastForwardedAt:
        lastForwardedAt === undefined ? undefined : new Date(lastForwardedAt).toISOString(),
      counters,
      owner: this.options.owner,
      restarts: context.restarts,
      lastProblem: this.session?.lastProblem ?? this.lastProblem,
      at: new Date(now).toISOString(),
    };
  }

  /** Publishes the status; the rate window restarts at each publication. */
  publish(): void {
    const status = this.snapshot();
    this.lastSample = {
      at: Date.parse(status.at),
      forwarded: status.counters.forwarded,
      notForwarded: notForwarded(status.counters),
    };
    try {
      this.options.nc.publish(this.options.names.status(this.name), jsonCodec.encode(status));
    } catch {
      // The worker's connection is closing; the next owner publishes.
    }
  }

  /** Whether stop() was called: the link is stopping or has stopped. */
  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Stops forwarding, closes the session and publishes the final status. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const sub = this.actor.subscribe({
        next: (snapshot) => {
          if (snapshot.status === "done") finish();
        },
        complete: () => finish(),
      });
      // The final status was published on the way into `stopped`, like every change.
      const finish = () => {
        sub.unsubscribe();
        clearInterval(this.timer);
        resolve();
      };
      if (this.actor.getSnapshot().status === "done") finish();
      else this.actor.send({ type: "STOP" });
    });
    return this.stopped;
  }
}
