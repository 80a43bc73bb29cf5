/**
 * What a router keeps across restarts, in a JetStream KV bucket of its own region
 * (`<deployment>_region_router`): the registry it holds (signed), the root key it pinned, the
 * root's signing key, and the sequence number of its last link-state advert. Without JetStream
 * the router runs from memory and says so.
 */
import { bucketNameOf } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

export type StoreKey = "registry" | "root-key" | "signing-key" | "advert-seq";

export class RouterStore {
  private readonly kv: KV | undefined;

  private constructor(kv: KV | undefined) {
    this.kv = kv;
  }

  static async open(nc: NatsConnection, deployment: string, logger: Logger): Promise<RouterStore> {
    try {
      const kv = await new Kvm(jetstream(nc)).create(bucketNameOf(deployment, "region_router"), {
        history: 1,
      });
      return new RouterStore(kv);
    } catch (err) {
      logger.warn({ err }, "no JetStream: the router keeps its state in memory only");
      return new RouterStore(undefined);
    }
  }

  async get(key: StoreKey): Promise<string | undefined> {
    const entry = await this.kv?.get(key);
    return entry && entry.operation === "PUT" && entry.value.length > 0
      ? entry.string()
      : undefined;
  }

  async put(key: StoreKey, value: string): Promise<void> {
    await this.kv?.put(key, value);
  }
}
