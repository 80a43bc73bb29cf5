import { EntenteError, msgpackCodec } from "@entente/protocol";
import type { KV } from "@nats-io/kv";
import {
  type Actor,
  type AnyActorLogic,
  createActor,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from "xstate";
import type { Logger } from "../logger.ts";

/** JetStream KV keys: letters, digits and `-/_=.`, not starting or ending with a dot. */
const KV_KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

export interface KeyedActorsOptions<TLogic extends AnyActorLogic> {
  logic: TLogic;
  /** Where snapshots live; every worker serving these actors opens the same bucket. */
  kv: KV;
  /** Input of an actor that has no snapshot yet. */
  input?: (key: string) => InputFrom<TLogic>;
  /** How many times to reload and retry when another worker changed the actor meanwhile. */
  maxConflicts?: number;
  logger?: Logger;
}

interface Cached<TLogic extends AnyActorLogic> {
  actor: Actor<TLogic>;
  revision: number;
}

/**
 * Long-lived actors addressed by key, whose persisted snapshots live in JetStream KV so any
 * worker can carry on where another stopped. Each event is applied to the latest snapshot and
 * written back with the KV revision it was read at (optimistic concurrency): when two workers
 * race on one key, the loser reloads and applies its event again, so no event is lost or
 * applied to a stale state. Effects an actor starts on a transition should therefore be
 * idempotent, since a conflicting event may be applied twice before one wins.
 */
export class KeyedActors<TLogic extends AnyActorLogic> {
  private readonly options: KeyedActorsOptions<TLogic>;
  private readonly cache = new Map<string, Cached<TLogic>>();
  /** Events for one key run one after another in this process. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(options: KeyedActorsOptions<TLogic>) {
    this.options = options;
  }

  /** Applies an event to the actor of `key` and returns its snapshot once it is persisted. */
  send(key: string, event: EventFromLogic<TLogic>): Promise<SnapshotFrom<TLogic>> {
    try {
      assertKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.apply(key, event));
    this.queues.set(key, next);
    void next
      .finally(() => {
        if (this.queues.get(key) === next) this.queues.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  /** The actor's current snapshot, from KV; undefined when it was never created. */
  async snapshot(key: string): Promise<SnapshotFrom<TLogic> | undefined> {
    assertKey(key);
    const { actor } = await this.load(key);
    return actor ? (actor.getSnapshot() as SnapshotFrom<TLogic>) : undefined;
  }

  /** Forgets an actor here and in KV. */
  async remove(key: string): Promise<void> {
    assertKey(key);
    this.evict(key);
    await this.options.kv.delete(key);
  }

  /** Stops every actor held in memory; their snapshots stay in KV. */
  stopAll(): void {
    for (const key of [...this.cache.keys()]) this.evict(key);
  }

  private async apply(key: string, event: EventFromLogic<TLogic>): Promise<SnapshotFrom<TLogic>> {
    const maxConflicts = this.options.maxConflicts ?? 10;
    for (let attempt = 0; ; attempt++) {
      const loaded = await this.load(key);
      const actor = loaded.actor ?? this.spawn(key, undefined);
      actor.send(event);
      const snapshot = actor.getSnapshot() as SnapshotFrom<TLogic>;
      const status = (snapshot as { status?: string }).status;
      if (status === "error") {
        this.evict(key);
        throw new EntenteError("INTERNAL", `actor ${key} failed on ${event.type}`, {
          details: { key, event: event.type },
          cause: (snapshot as { error?: unknown }).error,
        });
      }
      const data = msgpackCodec.encode(actor.getPersistedSnapshot());
      try {
        const revision =
          loaded.revision === 0
            ? await this.options.kv.create(key, data)
            : await this.options.kv.update(key, data, loaded.revision);
        this.cache.set(key, { actor, revision });
        return snapshot;
      } catch (err) {
        this.evict(key);
        if (attempt >= maxConflicts) {
          throw new EntenteError("UNAVAILABLE", `actor ${key}: too many concurrent updates`, {
            cause: err,
          });
        }
        this.options.logger?.debug({ key, attempt }, "actor changed elsewhere; reloading");
      }
    }
  }

  /** The actor at its latest persisted revision; revision 0 when there is none. */
  private async load(key: string): Promise<{ actor: Actor<TLogic> | undefined; revision: number }> {
    const entry = await this.options.kv.get(key);
    const live = entry !== null && entry.operation === "PUT";
    const revision = live ? entry.revision : 0;
    const cached = this.cache.get(key);
    if (cached && cached.revision === revision && revision !== 0) return cached;
    if (cached) this.evict(key);
    if (!live) return { actor: undefined, revision: entry?.revision ?? 0 };
    const persisted = msgpackCodec.decode(entry.value);
    const actor = this.spawn(key, persisted);
    this.cache.set(key, { actor, revision });
    return { actor, revision };
  }

  private spawn(key: string, persisted: unknown): Actor<TLogic> {
    const input = this.options.input?.(key);
    const actor = createActor(this.options.logic, {
      ...(persisted === undefined ? {} : { snapshot: persisted as never }),
      ...(input === undefined ? {} : { input }),
    });
    actor.start();
    return actor as Actor<TLogic>;
  }

  private evict(key: string): void {
    this.cache.get(key)?.actor.stop();
    this.cache.delete(key);
  }
}

function assertKey(key: string): void {
  if (!KV_KEY.test(key)) {
    throw new EntenteError(
      "BAD_REQUEST",
      `actor key ${JSON.stringify(key)} is not valid: use letters, digits and - / _ = . (no leading or trailing dot)`,
    );
  }
}
