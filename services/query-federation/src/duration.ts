/** Durations and timestamps as people write them, turned into exact nanoseconds. */

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/** `"1m"`, `"90s"`, `"250ms"` → nanoseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): bigint | undefined {
  let total = 0n;
  let rest = text.trim();
  if (rest.length === 0) return undefined;
  // Compound forms such as "1h30m" are read part by part.
  const part = /^(\d+)(ns|us|µs|ms|s|m|h|d|w)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) return undefined;
    total += BigInt(match[1] as string) * (UNIT_NS[match[2] as string] as bigint);
    rest = rest.slice(match[0].length);
  }
  return total;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A timestamp in any accepted form → nanoseconds since the epoch: a bigint, a safe integer, a
 * decimal string, RFC 3339 (with up to nanosecond fractions), `now`, or relative to now
 * (`-1h`, `now-30m`, `+5m`). Undefined when it is none of these.
 */
export function parseTimestamp(value: unknown, now: bigint = nowNs()): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") {
    return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  }
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return BigInt(text);
  if (text === "now") return now;
  const relative = /^(?:now)?([+-])(.+)$/.exec(text);
  if (relative) {
    const span = parseDuration(relative[2] as string);
    if (span === undefined) return undefined;
    return relative[1] === "-" ? now - span : now + span;
  }
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = match as unknown as string[];
  const millis = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(millis)) return undefined;
  const check = new Date(millis);
  if (check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) return undefined;
  let ns = BigInt(millis) * 1_000_000n + BigInt((fraction ?? "").padEnd(9, "0") || "0");
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone.startsWith("-") ? -1n : 1n;
    const [zh, zm] = zone.slice(1).split(":").map(Number) as [number, number];
    ns -= sign * BigInt(zh * 60 + zm) * 60_000_000_000n;
  }
  return ns;
}

/** Nanoseconds → RFC 3339 with nanoseconds, for tables people read. */
export function formatTimestamp(ns: bigint): string {
  const millis = ns / 1_000_000n;
  const iso = new Date(Number(millis)).toISOString();
  const fraction = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)
    .toString()
    .padStart(9, "0")
    .replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}
