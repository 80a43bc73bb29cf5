/**
 * How spilled rows are written: MessagePack, with 64-bit integers kept as bigints and decimals
 * as an extension of their own, so what an operator reads back is what it wrote.
 */
import { addExtension, Packr } from "msgpackr";
import { Decimal } from "./decimal.ts";

/** MessagePack's application extension type for a decimal: its unscaled digits and scale. */
const DECIMAL_EXTENSION = 0x44;

addExtension({
  Class: Decimal,
  type: DECIMAL_EXTENSION,
  write: (d: Decimal) => [d.unscaled.toString(), d.scale],
  read: ([unscaled, scale]: [string, number]) => new Decimal(BigInt(unscaled), scale),
});

const packr = new Packr({ useRecords: false, int64AsType: "bigint", mapsAsObjects: true });

export function encodeSpilled(values: readonly unknown[]): Uint8Array {
  return packr.pack(values);
}

export function decodeSpilled<T>(bytes: Uint8Array): T[] {
  return packr.unpack(bytes) as T[];
}
