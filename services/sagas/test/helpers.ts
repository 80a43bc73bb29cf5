/**
 * A responder for NATS request steps, as a service a saga calls would be: it records every
 * delivery with its idempotency key (so a test can see a repeat), and answers, fails or holds
 * each request as the test says.
 */
import { EntenteError, msgpackCodec, SAGA_IDEMPOTENCY_HEADER } from "@entente/protocol";
import { publishErrorReply } from "@entente/runtime";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";

export interface Delivery {
  /** The subject's last two tokens: `do.<i>` or `undo.<i>`. */
  what: string;
  key: string | undefined;
}

/** What to do with a request: answer (the default), fail with a code, or never answer. */
export type Behaviour = "ok" | "hang" | { fail: string };

export class Responder {
  readonly deliveries: Delivery[] = [];
  readonly prefix: string;
  readonly #sub: Subscription;
  readonly #behave: (what: string, repeat: number) => Behaviour;

  constructor(
    nc: NatsConnection,
    prefix: string,
    behave: (what: string, repeat: number) => Behaviour = () => "ok",
  ) {
    this.prefix = prefix;
    this.#behave = behave;
    this.#sub = nc.subscribe(`${prefix}.>`, { callback: (_, msg) => this.#answer(nc, msg) });
  }

  /** The steps' subjects, for a definition: `<prefix>.do.<i>` and `<prefix>.undo.<i>`. */
  subject(what: string): string {
    return `${this.prefix}.${what}`;
  }

  /** How many times each idempotency key arrived. */
  keyCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const d of this.deliveries) if (d.key) counts.set(d.key, (counts.get(d.key) ?? 0) + 1);
    return counts;
  }

  order(): string[] {
    return this.deliveries.map((d) => d.what);
  }

  stop(): void {
    this.#sub.unsubscribe();
  }

  #answer(nc: NatsConnection, msg: Msg): void {
    const what = msg.subject.slice(this.prefix.length + 1);
    const key = msg.headers?.get(SAGA_IDEMPOTENCY_HEADER) || undefined;
    const repeat = this.deliveries.filter((d) => d.what === what).length;
    this.deliveries.push({ what, key });
    const behaviour = this.#behave(what, repeat);
    if (behaviour === "hang" || !msg.reply) return;
    if (behaviour === "ok") {
      msg.respond(msgpackCodec.encode({ applied: what, key }));
      return;
    }
    publishErrorReply(
      nc,
      msg.reply,
      new EntenteError(behaviour.fail, `${what} refused`),
      msgpackCodec,
    );
  }
}

/** A definition of `count` steps on the responder's subjects, each with its compensation. */
export function requestSteps(responder: Responder, count: number) {
  return {
    steps: Array.from({ length: count }, (_, i) => ({
      name: `step-${i}`,
      action: { kind: "request", subject: responder.subject(`do.${i}`) },
      compensation: { kind: "request", subject: responder.subject(`undo.${i}`) },
    })),
  };
}
