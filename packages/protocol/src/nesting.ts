import { EntenteError } from "./errors.ts";

/**
 * How deeply a decoded body may nest arrays and objects. Decoders and encoders recurse, so a
 * body nested thousands deep would exhaust the stack; every message of the contract fits well
 * within this.
 */
export const MAX_NESTING_DEPTH = 128;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether a JSON text opens more than `maxDepth` arrays or objects at once. Counts brackets
 * outside strings; UTF-8 continuation bytes never equal these ASCII bytes, so the raw bytes
 * can be scanned. Invalid JSON is left for the parser to report.
 */
export function jsonNestingExceeds(bytes: Uint8Array, maxDepth: number): boolean {
  // A text shorter than the limit cannot open that many brackets.
  if (bytes.length <= maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/** The answer to a body nested too deeply: the caller's mistake, so BAD_REQUEST. */
export function nestingTooDeep(maxDepth: number): EntenteError {
  return new EntenteError(
    "BAD_REQUEST",
    `body nests arrays or objects deeper than ${maxDepth} levels`,
    { details: { maxDepth } },
  );
}
