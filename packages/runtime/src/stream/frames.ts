import { type Codec, EntenteError, JSON_CONTENT_TYPE, msgpackValueEnd } from "@entente/protocol";

/**
 * Batch payloads, without I/O. A payload is whole encoded items back to back: MessagePack values
 * one after another, or JSON texts each ending in a newline (NDJSON). An item larger than a batch
 * is cut across consecutive batches; each batch that ends inside an item is marked continued.
 */

export interface Frame {
  payload: Uint8Array;
  /** The payload ends inside an item that the next frame continues. */
  continued: boolean;
  /** Items whose last byte is in this frame. */
  items: number;
}

const NEWLINE = 0x0a;

function isJson(codec: Codec): boolean {
  return codec.contentType === JSON_CONTENT_TYPE;
}

/** One item as it travels inside a batch. */
export function encodeItem(codec: Codec, value: unknown): Uint8Array {
  return asItem(codec, codec.encode(value));
}

/** An encoded value as it travels inside a batch. */
export function asItem(codec: Codec, bytes: Uint8Array): Uint8Array {
  if (!isJson(codec)) return bytes;
  // JSON.stringify never emits a raw newline, so it safely ends each text.
  const line = new Uint8Array(bytes.length + 1);
  line.set(bytes);
  line[bytes.length] = NEWLINE;
  return line;
}

/** Cuts a payload of whole items into the encoded items. */
export function splitItems(codec: Codec, payload: Uint8Array): Uint8Array[] {
  const items: Uint8Array[] = [];
  if (isJson(codec)) {
    let start = 0;
    while (start < payload.length) {
      const end = payload.indexOf(NEWLINE, start);
      if (end < 0) throw malformed("a batch ends inside a JSON text");
      if (end > start) items.push(payload.subarray(start, end));
      start = end + 1;
    }
    return items;
  }
  let start = 0;
  while (start < payload.length) {
    let end: number;
    try {
      end = msgpackValueEnd(payload, start);
    } catch (err) {
      throw malformed(`a batch does not hold whole MessagePack items: ${(err as Error).message}`);
    }
    items.push(payload.subarray(start, end));
    start = end;
  }
  return items;
}

/**
 * Packs encoded items into frames of at most `batchBytes`. An item that fits in a frame never
 * straddles two; a larger one fills the current frame and continues in the next ones. The frame
 * being filled is held back, so the caller learns which frame is the last one only at `flush`.
 */
export class FrameBuilder {
  readonly #batchBytes: number;
  #pieces: Uint8Array[] = [];
  #size = 0;
  #items = 0;

  constructor(batchBytes: number) {
    if (!Number.isInteger(batchBytes) || batchBytes < 1) {
      throw new RangeError(`batchBytes must be a positive integer, got ${batchBytes}`);
    }
    this.#batchBytes = batchBytes;
  }

  /** Adds one encoded item; returns the frames it completed (never the last one). */
  push(item: Uint8Array): Frame[] {
    const out: Frame[] = [];
    const limit = this.#batchBytes;
    if (this.#size + item.length <= limit) {
      this.#append(item, true);
      return out;
    }
    if (item.length <= limit) {
      out.push(this.#take(false));
      this.#append(item, true);
      return out;
    }
    let offset = limit - this.#size;
    if (offset > 0) this.#append(item.subarray(0, offset), false);
    out.push(this.#take(true));
    while (item.length - offset > limit) {
      out.push({ payload: item.subarray(offset, offset + limit), continued: true, items: 0 });
      offset += limit;
    }
    this.#append(item.subarray(offset), true);
    return out;
  }

  /** Bytes held in the frame being filled. */
  get held(): number {
    return this.#size;
  }

  /** The frame held so far, possibly empty: the last one, or one a slow producer leaves waiting. */
  flush(): Frame {
    return this.#take(false);
  }

  #append(bytes: Uint8Array, completesItem: boolean): void {
    this.#pieces.push(bytes);
    this.#size += bytes.length;
    if (completesItem) this.#items++;
  }

  #take(continued: boolean): Frame {
    const frame = { payload: concat(this.#pieces, this.#size), continued, items: this.#items };
    this.#pieces = [];
    this.#size = 0;
    this.#items = 0;
    return frame;
  }
}

/**
 * Rebuilds items from frames in order: continued frames are kept until the frame that completes
 * their last item arrives, then everything is cut into items and decoded.
 */
export class FrameAssembler {
  readonly #codec: Codec;
  #pending: Uint8Array[] = [];
  #pendingSize = 0;

  constructor(codec: Codec) {
    this.#codec = codec;
  }

  /** True while an item is cut short, waiting for its continuation. */
  get incomplete(): boolean {
    return this.#pending.length > 0;
  }

  accept(payload: Uint8Array, continued: boolean): unknown[] {
    if (continued) {
      this.#pending.push(payload);
      this.#pendingSize += payload.length;
      return [];
    }
    let whole = payload;
    if (this.#pending.length > 0) {
      this.#pending.push(payload);
      whole = concat(this.#pending, this.#pendingSize + payload.length);
      this.#pending = [];
      this.#pendingSize = 0;
    }
    return splitItems(this.#codec, whole).map((bytes) => this.#codec.decode(bytes));
  }
}

function concat(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

function malformed(message: string): EntenteError {
  return new EntenteError("MALFORMED", message);
}
