import type { Codec, EntenteError } from "@entente/protocol";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import type { ByteBudget } from "../stream/budget.ts";
import { errorReply } from "../stream/error-reply.ts";
import { publishSingle, sendReply, streamEncoded, streamRequestOptions } from "../stream/sender.ts";
import type { ReplyBody, SendReplyOptions, SendReplyResult } from "../stream/types.ts";
import type { ReplyControl, ReplySink } from "./dispatch.ts";

/** The worker's settings for replies, the same for every request it serves. */
export interface NatsReplySettings {
  batchBytes: number;
  maxCredit: number;
  consumerTimeoutMs: number;
  /** Unread bytes of streamed replies, shared by every service on the connection. */
  budget: ByteBudget;
}

/** Answers a request that came over NATS on its reply subject: one message, or batches. */
export class NatsReplySink implements ReplySink {
  readonly wanted: boolean;
  readonly #nc: NatsConnection;
  readonly #reply: string;
  readonly #requestHeaders: MsgHdrs | undefined;
  readonly #codec: Codec;
  readonly #settings: NatsReplySettings;

  constructor(
    nc: NatsConnection,
    reply: string | undefined,
    requestHeaders: MsgHdrs | undefined,
    codec: Codec,
    settings: NatsReplySettings,
  ) {
    this.#nc = nc;
    this.#reply = reply ?? "";
    this.wanted = this.#reply !== "";
    this.#requestHeaders = requestHeaders;
    this.#codec = codec;
    this.#settings = settings;
  }

  send(body: ReplyBody, control: ReplyControl): SendReplyResult | Promise<SendReplyResult> {
    if (body.kind === "value") {
      // The common case: one message, published before this returns.
      const single = publishSingle(
        this.#nc,
        this.#reply,
        body.value,
        this.#codec,
        this.#settings.batchBytes,
        control.finalHeaders(),
      );
      if (!(single instanceof Uint8Array)) return single;
      return streamEncoded(this.#nc, this.#reply, single, this.#streamOptions(control));
    }
    return sendReply(this.#nc, this.#reply, body, this.#streamOptions(control));
  }

  sendError(error: EntenteError, control: ReplyControl): number {
    const reply = errorReply(error, this.#codec, control.finalHeaders());
    this.#nc.publish(this.#reply, reply.data, { headers: reply.headers });
    return reply.data.length;
  }

  #streamOptions(control: ReplyControl): SendReplyOptions {
    const settings = this.#settings;
    return {
      codec: this.#codec,
      batchBytes: settings.batchBytes,
      ...streamRequestOptions(this.#requestHeaders),
      maxCredit: settings.maxCredit,
      budget: settings.budget,
      signal: control.signal(),
      consumerTimeoutMs: settings.consumerTimeoutMs,
      finalHeaders: () => control.finalHeaders(),
      // A requester's cancel or disappearance reaches the handler through its signal.
      onStop: (outcome) => control.stop(outcome),
    };
  }
}
