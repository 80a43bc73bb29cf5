/**
 * What holding a row costs in V8's heap (64-bit, no pointer compression, as Node ships), for the
 * statement's memory budget. Rough but not low: the budget must end a statement before the
 * process runs out of heap, so object headers and hash entries count, not only the data.
 * Against `process.memoryUsage().heapUsed` after a full GC, a build side of driver-made rows
 * `[int, text, text, decimal]` counts ~20% over what it takes; shared strings count once each.
 */
import { Decimal } from "./decimal.ts";
import type { Value } from "./types.ts";

/** A JS array's object and its backing store's header, and the slot that refers to the array. */
const ARRAY_BYTES = 56;
export const SLOT_BYTES = 8;
const STRING_HEADER_BYTES = 16;
/** A boxed number (one that is not a small integer) or a bigint of one word. */
const BOXED_NUMBER_BYTES = 16;
const BIGINT_BYTES = 24;
/** A decimal: its object (two fields) and its unscaled bigint. */
const DECIMAL_BYTES = 32 + BIGINT_BYTES;
/** A typed array's object and its buffer's object; the bytes themselves come on top. */
const BINARY_BYTES = 160;
/** JSON values are sized shallowly: an object plus this much per key or element. */
const JSON_BYTES = 64;
const JSON_MEMBER_BYTES = 32;

/** An entry in a Map or Set, with the table's spare capacity. */
export const HASH_ENTRY_BYTES = 48;
/** A small object with a few fields (an aggregate's running state, a sort entry). */
export const SMALL_OBJECT_BYTES = 56;

/** An array of `slots` slots, with the slot that refers to it, not counting what they hold. */
export function arrayHeapBytes(slots: number): number {
  return ARRAY_BYTES + SLOT_BYTES * slots;
}

/** The heap bytes of a row: the array, its slots and what they point to. */
export function rowHeapBytes(row: readonly Value[]): number {
  let n = arrayHeapBytes(row.length);
  for (const v of row) n += valueHeapBytes(v);
  return n;
}

/** The heap bytes a value takes besides the slot that holds it. */
export function valueHeapBytes(v: Value): number {
  switch (typeof v) {
    case "string":
      // One byte per character; text beyond Latin-1 takes two and is undercounted.
      return STRING_HEADER_BYTES + ((v.length + 7) & ~7);
    case "number":
      return isSmallInteger(v) ? 0 : BOXED_NUMBER_BYTES;
    case "bigint":
      return BIGINT_BYTES;
    case "object":
      if (v === null) return 0;
      if (v instanceof Uint8Array) return BINARY_BYTES + v.byteLength;
      if (v instanceof Decimal) return DECIMAL_BYTES;
      return JSON_BYTES + JSON_MEMBER_BYTES * (Array.isArray(v) ? v.length : Object.keys(v).length);
    default:
      return 0;
  }
}

/** Integers V8 keeps in the slot itself (31-bit Smis: the smaller of its two layouts). */
function isSmallInteger(v: number): boolean {
  return Number.isInteger(v) && v >= -(2 ** 30) && v < 2 ** 30 && !Object.is(v, -0);
}
