/**
 * PromQL's literal tokens as Prometheus 2 reads them: numbers (Go's ParseInt with base prefixes,
 * then ParseFloat), strings with Go escapes, and durations with units. Failures are
 * `LiteralError`s carrying Prometheus' reason; the caller adds the position.
 */

export class LiteralError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "LiteralError";
  }
}

const MAX_INT64 = (1n << 63n) - 1n;
const DURATION_TOKEN = /^(\d+(ms|[ywdhms]))+$/;
const DECIMAL_FLOAT = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The value of an unsigned number token: `12`, `0x1f`, `010` (octal, as in Go), `1.5e3`, `Inf`. */
export function parseNumberToken(token: string): number {
  const lower = token.toLowerCase();
  if (lower === "inf") return Number.POSITIVE_INFINITY;
  if (lower === "nan") return Number.NaN;
  if (DURATION_TOKEN.test(token)) throw new LiteralError(`unexpected duration "${token}"`);
  if (token.includes("_")) throw new LiteralError(`bad number or duration syntax: "${token}"`);
  const integer = parseGoInteger(token);
  if (integer !== undefined) return integer;
  if (!DECIMAL_FLOAT.test(token)) {
    throw new LiteralError(
      `error parsing number: strconv.ParseFloat: parsing "${token}": invalid syntax`,
    );
  }
  const value = Number(token);
  if (!Number.isFinite(value)) {
    throw new LiteralError(
      `error parsing number: strconv.ParseFloat: parsing "${token}": value out of range`,
    );
  }
  return value;
}

/** Go's `strconv.ParseInt(token, 0, 64)`: undefined when it would fail (ParseFloat is next). */
function parseGoInteger(token: string): number | undefined {
  let digits: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(token)) digits = BigInt(token);
  else if (/^0[0-7]+$/.test(token)) digits = BigInt(`0o${token.slice(1)}`);
  else if (/^(0|[1-9]\d*)$/.test(token)) digits = BigInt(token);
  else return undefined;
  return digits <= MAX_INT64 ? Number(digits) : undefined;
}

const DURATION_UNITS_MS: ReadonlyArray<readonly [string, number]> = [
  ["y", 365 * 24 * 3600 * 1000],
  ["w", 7 * 24 * 3600 * 1000],
  ["d", 24 * 3600 * 1000],
  ["h", 3600 * 1000],
  ["m", 60 * 1000],
  ["s", 1000],
  ["ms", 1],
];
const DURATION_PATTERN =
  /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/**
 * A duration with units (`1h30m`, `90s`, `1y`), units from largest to smallest, each at most once,
 * as Prometheus' `model.ParseDuration`; milliseconds. Zero is allowed here (the API accepts it).
 */
export function parseUnitDuration(text: string): number {
  const match = text === "" ? null : DURATION_PATTERN.exec(text);
  if (match === null) throw new LiteralError(`not a valid duration string: "${text}"`);
  let ms = 0;
  DURATION_UNITS_MS.forEach(([, unitMs], index) => {
    const count = match[index + 1];
    if (count !== undefined) ms += Number(count) * unitMs;
  });
  if (!Number.isSafeInteger(ms)) throw new LiteralError("duration out of range");
  return ms;
}

/** A duration token inside `[…]`, after `offset` or as a subquery step: units required, > 0. */
export function parseDurationToken(token: string): number {
  if (/^\d+(\.\d*)?$/.test(token)) throw new LiteralError("missing unit character in duration");
  const ms = parseUnitDuration(token);
  if (ms === 0) throw new LiteralError("duration must be greater than 0");
  return ms;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

/** A quoted string token (`"…"`, `'…'` with Go escapes, or raw `` `…` ``) to its value. */
export function unquoteString(token: string): string {
  const quote = token[0];
  if (quote === "`") {
    if (token.length < 2 || !token.endsWith("`")) {
      throw new LiteralError("unterminated raw string");
    }
    return token.slice(1, -1);
  }
  if (quote !== '"' && quote !== "'") throw new LiteralError(`unexpected string ${token}`);
  const bytes: number[] = [];
  let i = 1;
  for (;;) {
    const char = token[i];
    if (char === undefined || char === "\n") {
      throw new LiteralError("unterminated quoted string");
    }
    if (char === quote) {
      if (i !== token.length - 1) throw new LiteralError("unexpected text after string");
      break;
    }
    if (char === "\\") {
      i = readEscape(token, i, quote, bytes);
      continue;
    }
    const codePoint = token.codePointAt(i) ?? 0;
    const text = String.fromCodePoint(codePoint);
    bytes.push(...utf8.encode(text));
    i += text.length;
  }
  return utf8Decoder.decode(new Uint8Array(bytes));
}

/** Reads the escape at `token[start]` (a backslash) into `bytes`; returns the index after it. */
function readEscape(token: string, start: number, quote: string, bytes: number[]): number {
  const kind = token[start + 1];
  if (kind === undefined) throw new LiteralError("escape sequence not terminated");
  const simple = SIMPLE_ESCAPES[kind];
  if (simple !== undefined) {
    bytes.push(simple);
    return start + 2;
  }
  if (kind === quote) {
    bytes.push(kind.charCodeAt(0));
    return start + 2;
  }
  if (kind >= "0" && kind <= "7") {
    const value = readDigits(token, start + 1, 3, 8);
    if (value > 255) throw new LiteralError("escape sequence is an invalid Unicode code point");
    bytes.push(value);
    return start + 4;
  }
  const width = kind === "x" ? 2 : kind === "u" ? 4 : kind === "U" ? 8 : 0;
  if (width === 0) {
    throw new LiteralError(`unknown escape sequence ${describeRune(kind)}`);
  }
  const value = readDigits(token, start + 2, width, 16);
  if (kind === "x") {
    bytes.push(value);
  } else {
    if (value > 0x10ffff || (value >= 0xd800 && value < 0xe000)) {
      throw new LiteralError("escape sequence is an invalid Unicode code point");
    }
    bytes.push(...utf8.encode(String.fromCodePoint(value)));
  }
  return start + 2 + width;
}

function readDigits(token: string, from: number, count: number, base: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const char = token[i];
    const digit = char === undefined ? Number.NaN : Number.parseInt(char, base);
    if (Number.isNaN(digit)) {
      if (char === undefined || char === '"' || char === "'") {
        throw new LiteralError("escape sequence not terminated");
      }
      throw new LiteralError(`illegal character ${describeRune(char)} in escape sequence`);
    }
    value = value * base + digit;
  }
  return value;
}

/** Go's `%#U`: `U+0071 'q'`. */
function describeRune(char: string): string {
  const codePoint = char.codePointAt(0) ?? 0;
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")} '${char}'`;
}

/** Label names Prometheus 2 accepts without quotes. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Metric names Prometheus 2 accepts without quotes. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
