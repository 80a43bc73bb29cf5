/**
 * Order-independent checksums of rows in the engine's normal form, so that the rows a tier
 * move copied can be compared between the hot source (PostgreSQL, MariaDB, through their
 * connectors) and the Parquet files: each row's canonical encoding is hashed with FNV-1a 64
 * and the hashes are summed modulo 2^64, so order and batching do not matter. A decimal hashes
 * as the double the cold store keeps it as, so a hot source's exact text and the file's double
 * of the same value hash alike; that needs the columns' types.
 */
import type { Row, Value, ValueType } from "../types.ts";

const encoder = new TextEncoder();

const TAG_NULL = 0;
const TAG_FALSE = 1;
const TAG_TRUE = 2;
const TAG_NUMBER = 3;
const TAG_TEXT = 4;
const TAG_BLOB = 5;
const TAG_JSON = 6;

/** FNV-1a 64 in four 16-bit limbs: exact without BigInt, which is far slower per byte. */
class Fnv64 {
  h0 = 0x2325;
  h1 = 0x8422;
  h2 = 0x9ce4;
  h3 = 0xcbf2;

  byte(b: number): void {
    this.h0 ^= b & 0xff;
    // Multiply by the prime 2^40 + 0x1b3.
    const t0 = this.h0 * 0x1b3;
    let t1 = this.h1 * 0x1b3;
    let t2 = this.h2 * 0x1b3 + this.h0 * 0x100;
    const t3 = this.h3 * 0x1b3 + this.h1 * 0x100;
    t1 += t0 >>> 16;
    this.h0 = t0 & 0xffff;
    t2 += t1 >>> 16;
    this.h1 = t1 & 0xffff;
    this.h3 = (t3 + (t2 >>> 16)) & 0xffff;
    this.h2 = t2 & 0xffff;
  }

  bytes(data: Uint8Array): void {
    this.length(data.length);
    for (let i = 0; i < data.length; i++) this.byte(data[i] as number);
  }

  /** Length prefixes keep `("ab","c")` and `("a","bc")` apart. */
  length(n: number): void {
    this.byte(n);
    this.byte(n >>> 8);
    this.byte(n >>> 16);
    this.byte(n >>> 24);
  }
}

/** The canonical text of a number: integers alike whether number or bigint, -0 as 0. */
function numberText(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isInteger(value) && Math.abs(value) < 2 ** 63) return BigInt(value).toString();
  return String(value);
}

/** JSON with object keys sorted, so that key order does not change the hash. */
function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? value.toString() : (JSON.stringify(value) ?? "null");
  }
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

function hashValue(h: Fnv64, value: Value, type: ValueType | undefined): void {
  if (type === "decimal" && typeof value === "string") value = Number(value);
  if (value === null || value === undefined) h.byte(TAG_NULL);
  else if (typeof value === "boolean") h.byte(value ? TAG_TRUE : TAG_FALSE);
  else if (typeof value === "number" || typeof value === "bigint") {
    h.byte(TAG_NUMBER);
    h.bytes(encoder.encode(numberText(value)));
  } else if (typeof value === "string") {
    h.byte(TAG_TEXT);
    h.bytes(encoder.encode(value));
  } else if (value instanceof Uint8Array) {
    h.byte(TAG_BLOB);
    h.bytes(value);
  } else {
    h.byte(TAG_JSON);
    h.bytes(encoder.encode(stableJson(value)));
  }
}

/** A running count and checksum: feed batches in any order and any cut. */
export class RowsChecksum {
  rowCount = 0;
  /** The rows' column types, where the rows may hold decimals as text. */
  readonly #types: readonly ValueType[];
  // The sum modulo 2^64 in four 16-bit limbs.
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  constructor(types: readonly ValueType[] = []) {
    this.#types = types;
  }

  add(rows: Iterable<Row>): this {
    for (const row of rows) {
      const h = new Fnv64();
      h.length(row.length);
      for (let i = 0; i < row.length; i++) hashValue(h, row[i], this.#types[i]);
      const s0 = this.#s0 + h.h0;
      const s1 = this.#s1 + h.h1 + (s0 >>> 16);
      const s2 = this.#s2 + h.h2 + (s1 >>> 16);
      const s3 = this.#s3 + h.h3 + (s2 >>> 16);
      this.#s0 = s0 & 0xffff;
      this.#s1 = s1 & 0xffff;
      this.#s2 = s2 & 0xffff;
      this.#s3 = s3 & 0xffff;
      this.rowCount++;
    }
    return this;
  }

  /** 16 hex digits. */
  get checksum(): string {
    return [this.#s3, this.#s2, this.#s1, this.#s0]
      .map((limb) => limb.toString(16).padStart(4, "0"))
      .join("");
  }

  result(): { rowCount: number; checksum: string } {
    return { rowCount: this.rowCount, checksum: this.checksum };
  }
}

/** Count and checksum of rows (or batches of rows, as a query streams them). */
export function rowsChecksum(
  rows: Iterable<Row>,
  types: readonly ValueType[] = [],
): { rowCount: number; checksum: string } {
  return new RowsChecksum(types).add(rows).result();
}

/** Count and checksum of a query's batches, read to the end. */
export async function batchesChecksum(
  batches: AsyncIterable<Row[]>,
  types: readonly ValueType[] = [],
): Promise<{ rowCount: number; checksum: string }> {
  const sum = new RowsChecksum(types);
  for await (const batch of batches) sum.add(batch);
  return sum.result();
}

/** FNV-1a 64 of one value's canonical encoding, as 16 hex digits (stable partition naming). */
export function valueHash(value: Value): string {
  const h = new Fnv64();
  hashValue(h, value, undefined);
  return [h.h3, h.h2, h.h1, h.h0].map((limb) => limb.toString(16).padStart(4, "0")).join("");
}
