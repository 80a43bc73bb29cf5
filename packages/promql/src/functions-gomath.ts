/**
 * Go's `math.Log`, `math.Log2` and `math.Log10`, ported so results match Prometheus to the last
 * bit (JavaScript's Math.log rounds differently in places, and Go derives
 * Log2 and Log10 from Log).
 */

const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const L1 = 0.6666666666666735;
const L2 = 0.3999999999940942;
const L3 = 0.2857142874366239;
const L4 = 0.22222198432149784;
const L5 = 0.1818357216161805;
const L6 = 0.15313837699209373;
const L7 = 0.14798198605116586;

const frexpView = new DataView(new ArrayBuffer(8));

/** Go's `math.Frexp` for finite non-zero x: x = fraction × 2^exponent, |fraction| in [0.5, 1). */
function frexp(x: number): [number, number] {
  let exponent = 0;
  let value = x;
  // Subnormals: scale into the normal range first.
  if (Math.abs(value) < 2.2250738585072014e-308) {
    value *= 2 ** 52;
    exponent = -52;
  }
  frexpView.setFloat64(0, value);
  const high = frexpView.getUint32(0);
  exponent += ((high >>> 20) & 0x7ff) - 1022;
  frexpView.setUint32(0, (high & ~(0x7ff << 20)) | (1022 << 20));
  return [frexpView.getFloat64(0), exponent];
}

export function goLog(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x < 0) return NaN;
  if (x === 0) return -Infinity;
  let [f1, ki] = frexp(x);
  if (f1 < Math.SQRT2 / 2) {
    f1 *= 2;
    ki--;
  }
  const f = f1 - 1;
  const k = ki;
  const s = f / (2 + f);
  const s2 = s * s;
  const s4 = s2 * s2;
  const t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
  const t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
  const r = t1 + t2;
  const hfsq = 0.5 * f * f;
  return k * LN2_HI - (hfsq - (s * (hfsq + r) + k * LN2_LO) - f);
}

export function goLog2(x: number): number {
  if (!Number.isFinite(x) || x <= 0) return goLog(x) * Math.LOG2E;
  const [fraction, exponent] = frexp(x);
  // Exact powers of two give exact answers.
  if (fraction === 0.5) return exponent - 1;
  return goLog(fraction) * Math.LOG2E + exponent;
}

export function goLog10(x: number): number {
  return goLog(x) * Math.LOG10E;
}

/** Go's `math.Max`: an infinity wins over NaN, which wins over any other value. */
export function goMax(x: number, y: number): number {
  if (x === Number.POSITIVE_INFINITY || y === Number.POSITIVE_INFINITY) {
    return Number.POSITIVE_INFINITY;
  }
  return Math.max(x, y);
}

/** Go's `math.Min`: an infinity wins over NaN, which wins over any other value. */
export function goMin(x: number, y: number): number {
  if (x === Number.NEGATIVE_INFINITY || y === Number.NEGATIVE_INFINITY) {
    return Number.NEGATIVE_INFINITY;
  }
  return Math.min(x, y);
}
