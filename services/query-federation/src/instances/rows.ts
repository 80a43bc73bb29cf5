/** Reading database rows into points and partials, refusing values that are not what they claim. */
import { EntenteError } from "@entente/protocol";
import type { PartialAggregate } from "../partials.ts";

export function badResponse(instance: string, message: string): EntenteError {
  return new EntenteError("BAD_RESPONSE", `instance ${instance}: ${message}`, {
    retryable: false,
    details: { instance },
  });
}

/** An instance call that would return more than it may (points or windows × groups). */
export function tooManyPoints(instance: string, maxPoints: number): EntenteError {
  return new EntenteError(
    "TOO_LARGE",
    `query reads more than ${maxPoints} points from instance ${instance}: narrow the time range or the tags, add a limit, or aggregate`,
    { details: { instance, maxPoints } },
  );
}

export function toNs(instance: string, value: unknown, what: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw badResponse(instance, `${what} ${describe(value)} is not an integer timestamp`);
}

export function toNumber(instance: string, value: unknown, what: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    return Number(value);
  }
  throw badResponse(instance, `${what} ${describe(value)} is not a number`);
}

const UTF8 = new TextDecoder();

export function toTags(instance: string, value: unknown): Record<string, string> {
  let parsed = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw badResponse(instance, `tags ${describe(value)} are not JSON`);
    }
  } else if (value instanceof Uint8Array) {
    return toTags(instance, UTF8.decode(value));
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw badResponse(instance, `tags ${describe(value)} are not a JSON object`);
  }
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    tags[k] = typeof v === "string" ? v : String(v);
  }
  return tags;
}

/**
 * Parsed tag sets by their JSON text: a series repeats its tags on every row, so each distinct
 * text is parsed once and its points share one (frozen) tag object.
 */
export class TagCache {
  private readonly parsed = new Map<string, Record<string, string>>();
  private readonly instance: string;
  private readonly capacity: number;

  constructor(instance: string, capacity = 100_000) {
    this.instance = instance;
    this.capacity = capacity;
  }

  get(value: unknown): Record<string, string> {
    if (value instanceof Uint8Array) return this.get(UTF8.decode(value));
    if (typeof value !== "string") return toTags(this.instance, value);
    const seen = this.parsed.get(value);
    if (seen) return seen;
    const tags = Object.freeze(toTags(this.instance, value)) as Record<string, string>;
    if (this.parsed.size < this.capacity) this.parsed.set(value, tags);
    return tags;
  }
}

export function toText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Uint8Array) return UTF8.decode(value);
  return String(value);
}

/**
 * One row of the pushed-down aggregation: window, groups, count, sum, min, max, M2, and
 * with `ends` first ts, first value, last ts, last value.
 */
export function aggregateFromRow(
  instance: string,
  row: unknown[],
  groups: number,
  ends: boolean,
): PartialAggregate {
  let i = 0;
  const window = toNs(instance, row[i++], "window");
  const group: string[] = [];
  for (let g = 0; g < groups; g++) group.push(toText(row[i++]));
  const partial: PartialAggregate = {
    window,
    group,
    count: toNumber(instance, row[i++], "count"),
    sum: toNumber(instance, row[i++], "sum"),
    min: toNumber(instance, row[i++], "min"),
    max: toNumber(instance, row[i++], "max"),
    m2: toNumber(instance, row[i++], "M2"),
  };
  if (ends) {
    partial.first = {
      ts: toNs(instance, row[i++], "first timestamp"),
      value: toNumber(instance, row[i++], "first value"),
    };
    partial.last = {
      ts: toNs(instance, row[i++], "last timestamp"),
      value: toNumber(instance, row[i++], "last value"),
    };
  }
  return partial;
}

function describe(value: unknown): string {
  const text = typeof value === "bigint" ? `${value}` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
