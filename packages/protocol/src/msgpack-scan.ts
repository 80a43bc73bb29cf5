/**
 * Finds where MessagePack values end, without decoding them. A batch carries items back to back,
 * and the format is self-delimiting, so a receiver can cut a batch into items and decode each
 * with the ordinary codec; the codec uses the same walk to refuse values nested too deeply
 * before a recursive decoder sees them. Iterative (a stack of counts, one per open container),
 * so deep nesting cannot overflow the call stack.
 */

/** Thrown when the bytes stop before the value does. */
export class TruncatedValueError extends Error {
  constructor(offset: number) {
    super(`MessagePack value starting at byte ${offset} is truncated`);
    this.name = "TruncatedValueError";
  }
}

/** Thrown when containers nest deeper than the caller allows. */
export class NestingTooDeepError extends Error {
  readonly maxDepth: number;

  constructor(maxDepth: number) {
    super(`value nests deeper than ${maxDepth} levels`);
    this.name = "NestingTooDeepError";
    this.maxDepth = maxDepth;
  }
}

/**
 * Offset just past the value that starts at `start`. Containers (arrays and maps, empty ones
 * included) may nest at most `maxDepth` deep.
 */
export function msgpackValueEnd(
  bytes: Uint8Array,
  start: number,
  maxDepth = Number.POSITIVE_INFINITY,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  /** Values still to read in the innermost open container (or at the top). */
  let pending = 1;
  /** The same count for every enclosing container, outermost first. */
  const enclosing: number[] = [];
  const need = (n: number): void => {
    if (pos + n > bytes.length) throw new TruncatedValueError(start);
  };
  const open = (values: number): void => {
    if (enclosing.length + 1 > maxDepth) throw new NestingTooDeepError(maxDepth);
    if (values === 0) return;
    enclosing.push(pending);
    pending = values;
  };
  for (;;) {
    while (pending === 0) {
      const outer = enclosing.pop();
      if (outer === undefined) {
        if (pos > bytes.length) throw new TruncatedValueError(start);
        return pos;
      }
      pending = outer;
    }
    need(1);
    const b = bytes[pos]!;
    pending--;
    if (b <= 0x7f || b >= 0xe0) {
      pos += 1; // fixint
    } else if (b <= 0x8f) {
      pos += 1;
      open(2 * (b & 0x0f)); // fixmap
    } else if (b <= 0x9f) {
      pos += 1;
      open(b & 0x0f); // fixarray
    } else if (b <= 0xbf) {
      pos += 1 + (b & 0x1f); // fixstr
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          pos += 1;
          break;
        case 0xc4:
        case 0xd9:
          need(2);
          pos += 2 + bytes[pos + 1]!;
          break;
        case 0xc5:
        case 0xda:
          need(3);
          pos += 3 + view.getUint16(pos + 1);
          break;
        case 0xc6:
        case 0xdb:
          need(5);
          pos += 5 + view.getUint32(pos + 1);
          break;
        case 0xc7:
          need(2);
          pos += 3 + bytes[pos + 1]!;
          break;
        case 0xc8:
          need(3);
          pos += 4 + view.getUint16(pos + 1);
          break;
        case 0xc9:
          need(5);
          pos += 6 + view.getUint32(pos + 1);
          break;
        case 0xca:
          pos += 5;
          break;
        case 0xcb:
          pos += 9;
          break;
        case 0xcc:
        case 0xd0:
          pos += 2;
          break;
        case 0xcd:
        case 0xd1:
          pos += 3;
          break;
        case 0xce:
        case 0xd2:
          pos += 5;
          break;
        case 0xcf:
        case 0xd3:
          pos += 9;
          break;
        case 0xd4:
          pos += 3;
          break;
        case 0xd5:
          pos += 4;
          break;
        case 0xd6:
          pos += 6;
          break;
        case 0xd7:
          pos += 10;
          break;
        case 0xd8:
          pos += 18;
          break;
        case 0xdc:
          need(3);
          pos += 3;
          open(view.getUint16(pos - 2));
          break;
        case 0xdd:
          need(5);
          pos += 5;
          open(view.getUint32(pos - 4));
          break;
        case 0xde:
          need(3);
          pos += 3;
          open(2 * view.getUint16(pos - 2));
          break;
        case 0xdf:
          need(5);
          pos += 5;
          open(2 * view.getUint32(pos - 4));
          break;
        default:
          // 0xc1 is never used by the format.
          throw new Error(`byte 0x${b.toString(16)} at offset ${pos} is not MessagePack`);
      }
    }
  }
}
