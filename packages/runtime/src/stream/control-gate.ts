import {
  type Codec,
  codecFor,
  HEADERS,
  parseMessage,
  type StreamControl,
  streamControlSchema,
} from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import { headerOf } from "./frame-headers.ts";
import type { StreamKey } from "./stream-key.ts";

/**
 * The producer's judgement of a control message, without I/O or clocks. With a stream key,
 * a message counts only when its tag is right for this stream and its number is higher than
 * any accepted before, so neither a stranger's message nor a copy of the requester's counts.
 * Without one (a requester that sent no key), any well-formed message counts.
 */

export type ControlVerdict =
  | { kind: "accept"; control: StreamControl }
  | { kind: "reject"; reason: "unauthenticated" | "repeated" | "malformed" };

export class ControlGate {
  readonly #stream: string;
  readonly #key: StreamKey | undefined;
  readonly #codec: Codec;
  #lastSeq = 0;

  constructor(stream: string, key: StreamKey | undefined, codec: Codec) {
    this.#stream = stream;
    this.#key = key;
    this.#codec = codec;
  }

  admit(h: MsgHdrs | undefined, body: Uint8Array): ControlVerdict {
    if (this.#key !== undefined) {
      const seq = Number(headerOf(h, HEADERS.controlSeq));
      const tag = headerOf(h, HEADERS.auth);
      if (!Number.isSafeInteger(seq) || seq < 1 || tag === undefined)
        return reject("unauthenticated");
      if (!this.#key.verifyControl(this.#stream, seq, body, tag)) return reject("unauthenticated");
      if (seq <= this.#lastSeq) return reject("repeated");
      this.#lastSeq = seq;
    }
    const contentType = headerOf(h, HEADERS.contentType);
    const codec = contentType === undefined ? this.#codec : codecFor(contentType);
    try {
      const control = parseMessage(
        streamControlSchema,
        codec.decode(body),
        "stream control message",
      );
      return { kind: "accept", control };
    } catch {
      return reject("malformed");
    }
  }
}

function reject(reason: "unauthenticated" | "repeated" | "malformed"): ControlVerdict {
  return { kind: "reject", reason };
}
