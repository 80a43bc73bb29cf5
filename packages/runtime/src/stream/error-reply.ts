import {
  type Codec,
  EntenteError,
  HEADERS,
  isErrorReply,
  statusOf,
  toEntenteError,
} from "@entente/protocol";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { encodeErrorBody } from "./error-body.ts";
import { headerOf, headerValue, setAll } from "./frame-headers.ts";
import { wireHeaders } from "./wire-headers.ts";

/**
 * Error replies: the body is the one error shape `{ error: { code, message, retryable, details? } }`,
 * bounded in size (error-body.ts), `entente-error` names the code, and the NATS services API
 * headers (`Nats-Service-Error`, `Nats-Service-Error-Code`) let stock tooling count and show the
 * failure.
 */

export interface EncodedErrorReply {
  headers: MsgHdrs;
  data: Uint8Array;
  error: EntenteError;
}

export function errorReply(
  err: unknown,
  codec: Codec,
  extraHeaders?: Record<string, string>,
): EncodedErrorReply {
  const error = toEntenteError(err);
  const h = wireHeaders();
  h.set(HEADERS.contentType, codec.contentType);
  h.set(HEADERS.error, headerValue(error.code, 100));
  h.set(HEADERS.serviceError, headerValue(error.message || error.code));
  h.set(HEADERS.serviceErrorCode, String(statusOf(error.code)));
  setAll(h, extraHeaders);
  return { headers: h, data: encodeErrorBody(error, codec), error };
}

/** Answers a request with an error (before any reply body went out); returns what was sent. */
export function publishErrorReply(
  nc: Pick<NatsConnection, "publish">,
  reply: string,
  err: unknown,
  codec: Codec,
  extraHeaders?: Record<string, string>,
): EntenteError {
  const { headers: h, data, error } = errorReply(err, codec, extraHeaders);
  nc.publish(reply, data, { headers: h });
  return error;
}

/** The error a reply carries, or undefined when it is not an error reply. */
export function readErrorReply(
  h: MsgHdrs | undefined,
  data: Uint8Array,
  codec: Codec,
): EntenteError | undefined {
  const code = headerOf(h, HEADERS.error);
  const serviceError = headerOf(h, HEADERS.serviceError);
  if (code === undefined && serviceError === undefined) return undefined;
  let body: unknown;
  try {
    body = codec.decode(data);
  } catch {
    body = undefined;
  }
  if (isErrorReply(body)) return EntenteError.fromBody(body.error);
  // A responder outside Entente (the NATS services API) may send only the headers.
  return new EntenteError(
    code ?? "UNAVAILABLE",
    serviceError ?? `the service failed with ${code}`,
    {
      details: { status: headerOf(h, HEADERS.serviceErrorCode) },
    },
  );
}

/** The server's answer when nobody subscribes to a request's subject. */
export function isNoResponders(h: MsgHdrs | undefined, data: Uint8Array): boolean {
  return data.length === 0 && h?.code === 503;
}
