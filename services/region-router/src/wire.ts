/**
 * How routers read and write their own messages: JSON with its content type, so the stock
 * `nats` tool can read them; requests are read in whatever encoding their content type says
 * (MessagePack without one, as everywhere in Entente) and answered in it.
 */
import {
  type Codec,
  codecFor,
  EntenteError,
  HEADERS,
  jsonCodec,
  parseMessage,
} from "@entente/protocol";
import { headerOf, publishErrorReply, wireHeaders } from "@entente/runtime";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import type { z } from "zod";

/** Router messages are small; anything larger is refused before it is decoded. */
export const MAX_ROUTER_MESSAGE_BYTES = 1024 * 1024;

function codecOf(msg: Msg): Codec {
  return codecFor(headerOf(msg.headers, HEADERS.contentType));
}

/** The body, decoded and validated; a BAD_REQUEST naming the fields when it is not one. */
export function readBody<S extends z.ZodType>(msg: Msg, schema: S, what: string): z.output<S> {
  if (msg.data.length > MAX_ROUTER_MESSAGE_BYTES) {
    throw new EntenteError(
      "TOO_LARGE",
      `${what} of ${msg.data.length} bytes is larger than ${MAX_ROUTER_MESSAGE_BYTES}`,
    );
  }
  return parseMessage(schema, codecOf(msg).decode(msg.data), what);
}

export function respond(msg: Msg, value: unknown): void {
  const codec = codecOf(msg);
  const headers = wireHeaders();
  headers.set(HEADERS.contentType, codec.contentType);
  msg.respond(codec.encode(value), { headers });
}

export function respondError(nc: NatsConnection, msg: Msg, err: unknown): void {
  if (msg.reply) publishErrorReply(nc, msg.reply, err, codecOf(msg));
}

/** Headers of a router message: JSON, plus any extra ones. */
export function jsonHeaders(extra: Record<string, string> = {}): MsgHdrs {
  const headers = wireHeaders();
  headers.set(HEADERS.contentType, jsonCodec.contentType);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return headers;
}

export const encodeJson = (value: unknown): Uint8Array => jsonCodec.encode(value);
