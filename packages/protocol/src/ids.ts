import { z } from "zod";
import { EntenteError } from "./errors.ts";

/**
 * Region-aware ids: a 64-bit id is a 16-bit region (1..65535) above a 48-bit sequence, so any
 * id names the region that owns its row. Exact as bigint; in JSON, a decimal string.
 */

export const MIN_REGION_ID = 1;
export const MAX_REGION_ID = 0xffff;
export const SEQUENCE_BITS = 48n;
export const MAX_SEQUENCE = (1n << SEQUENCE_BITS) - 1n;
const MAX_ID = (BigInt(MAX_REGION_ID) << SEQUENCE_BITS) | MAX_SEQUENCE;
const MIN_ID = BigInt(MIN_REGION_ID) << SEQUENCE_BITS;

export interface DecodedId {
  region: number;
  sequence: bigint;
}

export type IdInput = bigint | number | string;

export function assertRegionId(region: number): number {
  if (!Number.isInteger(region) || region < MIN_REGION_ID || region > MAX_REGION_ID) {
    throw new EntenteError(
      "BAD_REQUEST",
      `region id ${String(region)} is out of range: expected an integer from ${MIN_REGION_ID} to ${MAX_REGION_ID}`,
    );
  }
  return region;
}

export function encodeId(region: number, sequence: bigint | number): bigint {
  assertRegionId(region);
  const seq = toBigInt(sequence, "sequence");
  if (seq < 0n || seq > MAX_SEQUENCE) {
    throw new EntenteError(
      "BAD_REQUEST",
      `sequence ${seq} is out of range: expected 0 to ${MAX_SEQUENCE} (48 bits)`,
    );
  }
  return (BigInt(region) << SEQUENCE_BITS) | seq;
}

/** Parses and range-checks an id given as bigint, safe integer or decimal string. */
export function parseId(input: IdInput): bigint {
  const id = toBigInt(input, "id");
  if (id < MIN_ID || id > MAX_ID) {
    throw new EntenteError(
      "BAD_REQUEST",
      `id ${id} is out of range: a region-aware id is from ${MIN_ID} to ${MAX_ID} (region 1..65535, 48-bit sequence)`,
    );
  }
  return id;
}

export function decodeId(input: IdInput): DecodedId {
  const id = parseId(input);
  return { region: Number(id >> SEQUENCE_BITS), sequence: id & MAX_SEQUENCE };
}

export function regionOf(input: IdInput): number {
  return Number(parseId(input) >> SEQUENCE_BITS);
}

export function formatId(id: bigint): string {
  return parseId(id).toString();
}

/** A schema accepting an id in any lossless form and yielding a checked bigint. */
export const idSchema = z.union([z.bigint(), z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseId(value);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

function toBigInt(input: IdInput, what: string): bigint {
  if (typeof input === "bigint") return input;
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `${what} ${input} is not a safe integer: send 64-bit ids as decimal strings or bigints`,
      );
    }
    return BigInt(input);
  }
  if (typeof input === "string" && /^-?\d{1,20}$/.test(input.trim())) return BigInt(input.trim());
  throw new EntenteError(
    "BAD_REQUEST",
    `${what} ${JSON.stringify(input)} is not a decimal integer`,
  );
}
