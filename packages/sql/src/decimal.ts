/**
 * Exact decimals, as PostgreSQL's `numeric`: an unscaled integer and a scale (`12.50` is 1250 at
 * scale 2), with PostgreSQL's rules for the scale of each result. DECIMAL and NUMERIC values are
 * these from the moment the engine reads them to the text it answers with, so money adds up to
 * the cent however many rows are summed.
 */

import { badRequest } from "./errors.ts";

/** Significant digits a quotient keeps at least (PostgreSQL's NUMERIC_MIN_SIG_DIGITS). */
const MIN_SIG_DIGITS = 16;
/** The largest scale a result takes (PostgreSQL's NUMERIC_MAX_DISPLAY_SCALE). */
const MAX_SCALE = 1000;
/** Places round() and trunc() take at most, either way (PostgreSQL's NUMERIC_MAX_RESULT_SCALE). */
const MAX_ROUNDING_PLACES = 2000;
/** Digits numeric holds before and after the point (PostgreSQL's 131072 and 16383). */
const MAX_INTEGER_DIGITS = 131_072;
const MAX_FRACTION_DIGITS = 16_383;

const POWERS: bigint[] = [];
function pow10(n: number): bigint {
  if (n < 64) {
    let p = POWERS[n];
    if (p === undefined) {
      p = 10n ** BigInt(n);
      POWERS[n] = p;
    }
    return p;
  }
  return 10n ** BigInt(n);
}

export class Decimal {
  readonly unscaled: bigint;
  readonly scale: number;

  constructor(unscaled: bigint, scale: number) {
    this.unscaled = unscaled;
    this.scale = scale;
  }

  /**
   * Decimal text (`-12.50`, `1e-3`, `.5`), or undefined when it is not one; one past numeric's
   * digits (`1e999999999`) is refused before its digits are made.
   */
  static parse(text: string): Decimal | undefined {
    const m = /^\s*([-+]?)(\d*)(?:\.(\d*))?(?:e([-+]?\d+))?\s*$/i.exec(text);
    if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
    const fraction = m[3] ?? "";
    const exponent = Number(m[4] ?? 0);
    if (
      (m[2] ?? "").length + exponent > MAX_INTEGER_DIGITS ||
      fraction.length - exponent > MAX_FRACTION_DIGITS
    )
      throw badRequest(`value overflows numeric format: ${text.trim().slice(0, 40)}`);
    let unscaled = BigInt(`${m[1] === "-" ? "-" : ""}${m[2] || "0"}${fraction}`);
    let scale = fraction.length - exponent;
    if (scale < 0) {
      unscaled *= pow10(-scale);
      scale = 0;
    }
    return new Decimal(unscaled, scale);
  }

  /**
   * Plain decimal text as a database prints it (`-12.50`), read without a regular expression:
   * sources send every DECIMAL value this way, so this is the engine's hottest parse.
   */
  static fromSourceText(text: string): Decimal | undefined {
    const point = text.indexOf(".");
    if (point < 0) {
      const unscaled = safeBigInt(text);
      if (unscaled !== undefined) return new Decimal(unscaled, 0);
    } else {
      const unscaled = safeBigInt(text.slice(0, point) + text.slice(point + 1));
      if (unscaled !== undefined) return new Decimal(unscaled, text.length - point - 1);
    }
    return Decimal.parse(text);
  }

  /** A double as the shortest decimal that reads back as it (how a stored double is shown). */
  static fromDouble(n: number): Decimal | undefined {
    if (!Number.isFinite(n)) return undefined;
    return Decimal.parse(String(n));
  }

  /** A double as PostgreSQL's cast to numeric takes it: rounded to 15 significant digits. */
  static fromDoubleCast(n: number): Decimal | undefined {
    if (!Number.isFinite(n)) return undefined;
    const d = Decimal.parse(n.toPrecision(15));
    return d?.withoutTrailingZeros();
  }

  static fromInteger(n: number | bigint): Decimal {
    return new Decimal(BigInt(n), 0);
  }

  /** Text with exactly `scale` places, as PostgreSQL prints a numeric. */
  toString(): string {
    const negative = this.unscaled < 0n;
    const digits = (negative ? -this.unscaled : this.unscaled).toString();
    if (this.scale === 0) return negative ? `-${digits}` : digits;
    const padded = digits.padStart(this.scale + 1, "0");
    const point = padded.length - this.scale;
    return `${negative ? "-" : ""}${padded.slice(0, point)}.${padded.slice(point)}`;
  }

  /** The double nearest the decimal; also what `Number(d)` and arithmetic with doubles see. */
  toNumber(): number {
    return this.scale === 0 ? Number(this.unscaled) : Number(this.toString());
  }

  valueOf(): number {
    return this.toNumber();
  }

  toJSON(): string {
    return this.toString();
  }

  sign(): number {
    return this.unscaled < 0n ? -1 : this.unscaled > 0n ? 1 : 0;
  }

  isInteger(): boolean {
    return this.scale === 0 || this.unscaled % pow10(this.scale) === 0n;
  }

  /** The same value with the fewest places (`1.500` → `1.5`). */
  withoutTrailingZeros(): Decimal {
    let { unscaled, scale } = this;
    while (scale > 0 && unscaled % 10n === 0n) {
      unscaled /= 10n;
      scale--;
    }
    return scale === this.scale ? this : new Decimal(unscaled, scale);
  }

  /** The unscaled value at a larger scale. */
  private at(scale: number): bigint {
    return scale === this.scale ? this.unscaled : this.unscaled * pow10(scale - this.scale);
  }

  add(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    return new Decimal(this.at(scale) + other.at(scale), scale);
  }

  subtract(other: Decimal): Decimal {
    const scale = Math.max(this.scale, other.scale);
    return new Decimal(this.at(scale) - other.at(scale), scale);
  }

  multiply(other: Decimal): Decimal {
    const product = new Decimal(this.unscaled * other.unscaled, this.scale + other.scale);
    return product.scale > MAX_SCALE ? product.round(MAX_SCALE) : product;
  }

  negate(): Decimal {
    return new Decimal(-this.unscaled, this.scale);
  }

  abs(): Decimal {
    return this.unscaled < 0n ? this.negate() : this;
  }

  /**
   * The quotient at PostgreSQL's scale: at least 16 significant digits and no fewer places than
   * either operand, rounded half away from zero. Throws on a zero divisor.
   */
  divide(other: Decimal): Decimal {
    if (other.unscaled === 0n) throw new RangeError("division by zero");
    return this.divideAt(other, divisionScale(this, other));
  }

  /** The quotient rounded half away from zero at `scale` places. */
  divideAt(other: Decimal, scale: number): Decimal {
    if (other.unscaled === 0n) throw new RangeError("division by zero");
    // this / other = (a / 10^sa) / (b / 10^sb); at `scale`: a * 10^(scale - sa + sb) / b.
    const shift = scale - this.scale + other.scale;
    let n = this.unscaled;
    let d = other.unscaled;
    if (shift >= 0) n *= pow10(shift);
    else d *= pow10(-shift);
    return new Decimal(roundedQuotient(n, d), scale);
  }

  /** The remainder of truncated division, with the dividend's sign (PostgreSQL's numeric mod). */
  modulo(other: Decimal): Decimal {
    if (other.unscaled === 0n) throw new RangeError("division by zero");
    const scale = Math.max(this.scale, other.scale);
    return new Decimal(this.at(scale) % other.at(scale), scale);
  }

  /** Rounded half away from zero to `places` (negative: to tens, hundreds, …), as round(). */
  round(places: number): Decimal {
    return this.toPlaces(places, roundedQuotient);
  }

  /** Truncated toward zero to `places`, as trunc(). */
  truncate(places: number): Decimal {
    return this.toPlaces(places, (n, d) => n / d);
  }

  floor(): Decimal {
    return this.toPlaces(0, (n, d) => {
      const q = n / d;
      return n % d !== 0n && n < 0n ? q - 1n : q;
    });
  }

  ceil(): Decimal {
    return this.toPlaces(0, (n, d) => {
      const q = n / d;
      return n % d !== 0n && n > 0n ? q + 1n : q;
    });
  }

  private toPlaces(wanted: number, divide: (n: bigint, d: bigint) => bigint): Decimal {
    const whole = Number.isFinite(wanted) ? Math.trunc(wanted) : 0;
    const places = Math.max(-MAX_ROUNDING_PLACES, Math.min(MAX_ROUNDING_PLACES, whole));
    const scale = Math.max(places, 0);
    if (places >= this.scale) return new Decimal(this.at(scale), scale);
    const dropped = pow10(this.scale - places);
    const kept = divide(this.unscaled, dropped);
    // Negative places round to tens, hundreds, …: put the zeros back at scale 0.
    return new Decimal(places < 0 ? kept * pow10(-places) : kept, scale);
  }

  compare(other: Decimal): number {
    const scale = Math.max(this.scale, other.scale);
    const a = this.at(scale);
    const b = other.at(scale);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** The nearest integer, half away from zero, as a numeric's cast to an integer type. */
  toBigInt(): bigint {
    return this.round(0).unscaled;
  }
}

/** A bigint that reads `text` exactly, or undefined when it is not plain digits. */
function safeBigInt(text: string): bigint | undefined {
  const start = text.charCodeAt(0) === 45 || text.charCodeAt(0) === 43 ? 1 : 0;
  if (start === text.length) return undefined;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return BigInt(text);
}

/** n / d rounded half away from zero. */
function roundedQuotient(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  if (r === 0n) return q;
  const twice = (r < 0n ? -r : r) * 2n;
  const dd = d < 0n ? -d : d;
  if (twice < dd) return q;
  return n < 0n !== d < 0n ? q - 1n : q + 1n;
}

/**
 * PostgreSQL's select_div_scale: it works in base-10000 digits, estimating the quotient's weight
 * from each operand's first such digit, and keeps 16 significant digits from there.
 */
function divisionScale(a: Decimal, b: Decimal): number {
  const [weightA, firstA] = leadingBase10000Digit(a);
  const [weightB, firstB] = leadingBase10000Digit(b);
  let quotientWeight = weightA - weightB;
  if (firstA <= firstB) quotientWeight--;
  const scale = Math.max(MIN_SIG_DIGITS - quotientWeight * 4, a.scale, b.scale, 0);
  return Math.min(scale, MAX_SCALE);
}

/** The weight (power of 10000) and value of a decimal's first nonzero base-10000 digit. */
function leadingBase10000Digit(d: Decimal): [number, number] {
  const magnitude = d.unscaled < 0n ? -d.unscaled : d.unscaled;
  if (magnitude === 0n) return [0, 0];
  const exponent = magnitude.toString().length - 1 - d.scale;
  const weight = Math.floor(exponent / 4);
  // The first digit is ⌊|d| / 10000^weight⌋, that is ⌊magnitude · 10^(−4·weight − scale)⌋.
  const shift = -4 * weight - d.scale;
  const first = shift >= 0 ? magnitude * pow10(shift) : magnitude / pow10(-shift);
  return [weight, Number(first)];
}

/** A number, bigint, decimal or numeric text as a Decimal; undefined for NaN, ±Infinity, other text. */
export function toDecimal(v: unknown): Decimal | undefined {
  if (v instanceof Decimal) return v;
  if (typeof v === "bigint") return new Decimal(v, 0);
  if (typeof v === "number") {
    return Number.isInteger(v) ? new Decimal(BigInt(v), 0) : Decimal.fromDouble(v);
  }
  if (typeof v === "string") return Decimal.parse(v);
  return undefined;
}
