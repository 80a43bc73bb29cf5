/**
 * Numbers as exact decimals: digits and a power-of-ten scale (`0.06` is 6 at scale 2), read from
 * a value's shortest text, so that a decimal the engine carries as a double is the decimal
 * written, and sums and comparisons of such decimals are exact.
 */

export interface ScaledDecimal {
  digits: bigint;
  scale: number;
}

/** A finite number, bigint or numeric text as digits and a scale; undefined for NaN, ±Infinity. */
export function scaledDecimal(v: unknown): ScaledDecimal | undefined {
  if (typeof v === "bigint") return { digits: v, scale: 0 };
  if (typeof v === "number" && !Number.isFinite(v)) return undefined;
  if (typeof v !== "number" && typeof v !== "string") return undefined;
  const m = /^([-+]?)(\d+)(?:\.(\d*))?(?:e([-+]?\d+))?$/i.exec(String(v).trim());
  if (!m) return undefined;
  const fraction = m[3] ?? "";
  let digits = BigInt(`${m[1] === "-" ? "-" : ""}${m[2]}${fraction}`);
  let scale = fraction.length - Number(m[4] ?? 0);
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { digits, scale };
}

/** `a` and `b` at the same scale, the larger of theirs. */
function aligned(a: ScaledDecimal, b: ScaledDecimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [
    a.digits * 10n ** BigInt(scale - a.scale),
    b.digits * 10n ** BigInt(scale - b.scale),
    scale,
  ];
}

export function addScaled(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  const [x, y, scale] = aligned(a, b);
  return { digits: x + y, scale };
}

export function subtractScaled(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  const [x, y, scale] = aligned(a, b);
  return { digits: x - y, scale };
}

export function multiplyScaled(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  return { digits: a.digits * b.digits, scale: a.scale + b.scale };
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b`. */
export function compareScaled(a: ScaledDecimal, b: ScaledDecimal): number {
  const [x, y] = aligned(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The double nearest the decimal. */
export function toNumber(d: ScaledDecimal): number {
  const negative = d.digits < 0n;
  const text = (negative ? -d.digits : d.digits).toString().padStart(d.scale + 1, "0");
  const point = text.length - d.scale;
  return Number(`${negative ? "-" : ""}${text.slice(0, point)}.${text.slice(point) || "0"}`);
}
