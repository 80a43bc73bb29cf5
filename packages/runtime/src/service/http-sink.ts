import type { ServerResponse } from "node:http";
import {
  type Codec,
  EntenteError,
  HEADERS,
  JSON_CONTENT_TYPE,
  jsonCodec,
  statusOf,
} from "@entente/protocol";
import { abortReason } from "../deadline.ts";
import { encodeErrorBody } from "../stream/error-body.ts";
import { WorkSlice, yieldToEventLoop } from "../stream/slice.ts";
import type { ReplyBody, SendReplyResult } from "../stream/types.ts";
import type { ReplyControl, ReplySink } from "./dispatch.ts";

export const NDJSON = "application/x-ndjson";

/** How a route with its own envelope shapes its answers and errors. */
export interface HttpOutput {
  /** The body of a successful answer, made from the endpoint's (collected) answer. */
  answer: (value: unknown) => unknown;
  /** The status and body of a refusal or failure. */
  error: (error: EntenteError) => { status: number; body: unknown };
}

/** Items encoded before a streamed answer lets the event loop turn. */
const ITEMS_PER_SLICE = 256;

export interface HttpReplyOptions {
  /** The codec of the answer (JSON unless the client asked for MessagePack). */
  codec: Codec;
  /** The most bytes an answer may have; a larger one is refused with TOO_LARGE. */
  maxBytes: number;
  /** Streamed items go out as NDJSON, one line each, as they come. */
  ndjson: boolean;
  /** Folds a streamed answer's items into one body; else they are answered as an array. */
  collect?: ((items: unknown[]) => unknown) | undefined;
  /** Shapes the answer (after `collect`) and errors; never with `ndjson`. */
  output?: HttpOutput | undefined;
  /** Unread bytes of the request may remain: the connection is closed after the answer. */
  closeAfter: boolean;
}

/**
 * Answers a request that came over HTTP: a value as one body, a stream as one array (or the
 * route's `collect` of its items, or NDJSON lines), an error as the error shape with its
 * status. Every answer is bounded in bytes.
 */
export class HttpReplySink implements ReplySink {
  readonly wanted = true;
  status: number | undefined;
  readonly #res: ServerResponse;
  readonly #options: HttpReplyOptions;

  constructor(res: ServerResponse, options: HttpReplyOptions) {
    this.#res = res;
    this.#options = options;
  }

  send(body: ReplyBody, control: ReplyControl): SendReplyResult | Promise<SendReplyResult> {
    if (body.kind === "value") {
      const { output } = this.#options;
      const encoded = this.#options.codec.encode(output ? output.answer(body.value) : body.value);
      this.#checkSize(encoded.length);
      return this.#answer(encoded, control);
    }
    return this.#options.ndjson
      ? this.#sendLines(body.items, control)
      : this.#sendWhole(body.items, control);
  }

  sendError(error: EntenteError, control: ReplyControl): number {
    const res = this.#res;
    if (res.destroyed) return 0;
    if (res.headersSent) {
      // Mid-stream (NDJSON): the last line says why it ended.
      if (res.writableEnded) return 0;
      const line = encodeLine(encodeErrorBody(error, this.#lineCodec()));
      res.end(line);
      return line.length;
    }
    const shaped = this.#options.output?.error(error);
    const data = shaped
      ? this.#options.codec.encode(shaped.body)
      : encodeErrorBody(error, this.#options.codec);
    this.status = shaped ? shaped.status : statusOf(error.code);
    const headers: Record<string, string | number> = {
      "content-type": this.#options.codec.contentType,
      "content-length": data.length,
      [HEADERS.error]: error.code,
      ...control.finalHeaders(),
    };
    if (this.#options.closeAfter || error.code === "TOO_LARGE") headers.connection = "close";
    res.writeHead(this.status, headers);
    res.end(data);
    return data.length;
  }

  #answer(data: Uint8Array, control: ReplyControl, items = 1): SendReplyResult {
    const res = this.#res;
    if (res.destroyed) return { batches: 0, items: 0, bytes: 0, outcome: "consumer-gone" };
    this.status = 200;
    res.writeHead(200, {
      "content-type": this.#options.codec.contentType,
      "content-length": data.length,
      ...control.finalHeaders(),
      ...(this.#options.closeAfter ? { connection: "close" } : {}),
    });
    res.end(data);
    return { batches: 1, items, bytes: data.length, outcome: "completed" };
  }

  /** Every item read (within the bound), then one body: an array, or the route's collect. */
  async #sendWhole(
    items: AsyncIterable<unknown> | Iterable<unknown>,
    control: ReplyControl,
  ): Promise<SendReplyResult> {
    const { codec, collect, output } = this.#options;
    const keepValues = collect !== undefined || output !== undefined;
    const values: unknown[] = [];
    const encoded: Uint8Array[] = [];
    let size = 0;
    await eachItem(items, control, (value) => {
      const bytes = codec.encode(value);
      size += bytes.length + 1;
      this.#checkSize(size);
      if (keepValues) values.push(value);
      else encoded.push(bytes);
    });
    const data = keepValues
      ? codec.encode(foldValues(values, collect, output))
      : arrayOf(codec, encoded);
    this.#checkSize(data.length);
    return this.#answer(data, control, keepValues ? values.length : encoded.length);
  }

  /** One line per item as it comes, writing no faster than the client reads. */
  async #sendLines(
    items: AsyncIterable<unknown> | Iterable<unknown>,
    control: ReplyControl,
  ): Promise<SendReplyResult> {
    const res = this.#res;
    const codec = this.#lineCodec();
    let size = 0;
    let count = 0;
    this.status = 200;
    res.writeHead(200, { "content-type": NDJSON });
    await eachItem(items, control, async (value) => {
      const line = encodeLine(codec.encode(value));
      size += line.length;
      this.#checkSize(size);
      count++;
      if (!res.write(line)) await drained(res, control.signal());
    });
    if (res.destroyed)
      return { batches: count, items: count, bytes: size, outcome: "consumer-gone" };
    res.end();
    return { batches: count, items: count, bytes: size, outcome: "completed" };
  }

  #checkSize(bytes: number): void {
    const limit = this.#options.maxBytes;
    if (bytes > limit) {
      throw new EntenteError("TOO_LARGE", `the answer exceeds the limit of ${limit} bytes`, {
        details: { limit },
      });
    }
  }

  /** NDJSON lines are JSON whatever was asked for. */
  #lineCodec(): Codec {
    return this.#options.ndjson ? jsonCodec : this.#options.codec;
  }
}

/** A streamed answer's items as one body: collected, then shaped. */
function foldValues(
  values: unknown[],
  collect: HttpReplyOptions["collect"],
  output: HttpOutput | undefined,
): unknown {
  const folded = collect ? collect(values) : values;
  return output ? output.answer(folded) : folded;
}

/** JSON texts never hold a raw newline, so each ends its line. */
function encodeLine(text: Uint8Array): Uint8Array {
  const line = new Uint8Array(text.length + 1);
  line.set(text);
  line[text.length] = 0x0a;
  return line;
}

/** Calls `take` for each item, stopping at an abort and letting the event loop turn now and then. */
async function eachItem(
  items: AsyncIterable<unknown> | Iterable<unknown>,
  control: ReplyControl,
  take: (value: unknown) => void | Promise<void>,
): Promise<void> {
  const signal = control.signal();
  const slice = new WorkSlice(ITEMS_PER_SLICE);
  for await (const value of items) {
    if (signal.aborted) throw abortReason(signal, undefined, "answer");
    await take(value);
    if (slice.add()) await yieldToEventLoop();
  }
  if (signal.aborted) throw abortReason(signal, undefined, "answer");
}

/** Resolves once the response can take more, or when the request is aborted. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Encoded items as one array: `[a,b]` in JSON, an array header then the items in MessagePack. */
function arrayOf(codec: Codec, items: Uint8Array[]): Uint8Array {
  if (codec.contentType === JSON_CONTENT_TYPE) {
    const parts: Uint8Array[] = [OPEN];
    items.forEach((item, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(item);
    });
    parts.push(CLOSE);
    return Buffer.concat(parts);
  }
  return Buffer.concat([msgpackArrayHeader(items.length), ...items]);
}

const OPEN = new Uint8Array([0x5b]);
const COMMA = new Uint8Array([0x2c]);
const CLOSE = new Uint8Array([0x5d]);

function msgpackArrayHeader(n: number): Uint8Array {
  if (n < 16) return new Uint8Array([0x90 | n]);
  if (n < 0x10000) return new Uint8Array([0xdc, n >> 8, n & 0xff]);
  return new Uint8Array([0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
