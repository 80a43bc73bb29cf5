/**
 * Go's `math.Pow` and `math.Atan2`, which Prometheus uses for `^` and `atan2`. JavaScript's own
 * functions differ in special cases (`1 ^ NaN` is 1 in Go) and in the last bits of some results
 * (Go raises to integer powers by repeated squaring; its atan is Cephes'), so they are ported.
 */

const float64View = new DataView(new ArrayBuffer(8));

/** Splits `x` into a fraction in [0.5, 1) and a power of two, as Go's `math.Frexp`. */
export function frexp(x: number): [fraction: number, exponent: number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  let exponent = 0;
  let value = x;
  // Subnormals have no implicit bit: scale them into the normal range first.
  if (Math.abs(value) < 2 ** -1022) {
    value *= 2 ** 52;
    exponent = -52;
  }
  float64View.setFloat64(0, value);
  const high = float64View.getUint32(0);
  exponent += ((high >>> 20) & 0x7ff) - 1022;
  float64View.setUint32(0, (high & 0x800fffff) | (1022 << 20));
  return [float64View.getFloat64(0), exponent];
}

/** `fraction × 2^exponent` with a single rounding, as Go's `math.Ldexp`. */
export function ldexp(fraction: number, exponent: number): number {
  if (fraction === 0 || !Number.isFinite(fraction)) return fraction;
  const [mantissa, ownExponent] = frexp(fraction);
  const total = ownExponent + exponent;
  if (total > 1024) return mantissa < 0 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (total < -1074) return mantissa < 0 ? -0 : 0;
  // Both factors and the product are normal here, so no rounding happens.
  if (total > 0) return mantissa * 2 ** (total - 1) * 2;
  if (total >= -1021) return mantissa * 2 ** total;
  // A subnormal result: scale exactly into the normal range, then round once.
  return mantissa * 2 ** (total + 53) * 2 ** -53;
}

function isOddInteger(x: number): boolean {
  if (Math.abs(x) >= 2 ** 53) return false;
  return Number.isInteger(x) && Math.abs(x) % 2 === 1;
}

/** Go's `math.Pow`. */
export function goPow(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (y === 1) return x;
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  if (x === 0) {
    const negativeZero = Object.is(x, -0);
    if (y < 0) {
      return negativeZero && isOddInteger(y) ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    }
    return negativeZero && isOddInteger(y) ? x : 0;
  }
  if (!Number.isFinite(y)) {
    if (x === -1) return 1;
    return Math.abs(x) < 1 === y > 0 ? 0 : Number.POSITIVE_INFINITY;
  }
  if (!Number.isFinite(x)) {
    if (x < 0) return goPow(1 / x, -y);
    return y < 0 ? 0 : Number.POSITIVE_INFINITY;
  }
  if (y === 0.5) return Math.sqrt(x);
  if (y === -0.5) return 1 / Math.sqrt(x);

  let yi = Math.trunc(Math.abs(y));
  let yf = Math.abs(y) - yi;
  if (yf !== 0 && x < 0) return Number.NaN;
  if (yi >= 2 ** 63) {
    if (x === -1) return 1;
    return Math.abs(x) < 1 === y > 0 ? 0 : Number.POSITIVE_INFINITY;
  }

  let a1 = 1;
  let ae = 0;
  if (yf !== 0) {
    if (yf > 0.5) {
      yf--;
      yi++;
    }
    a1 = Math.exp(yf * Math.log(x));
  }

  let [x1, xe] = frexp(x);
  for (let i = yi; i !== 0; i = Math.floor(i / 2)) {
    if (xe < -(1 << 12) || 1 << 12 < xe) {
      ae += xe;
      break;
    }
    if (i % 2 === 1) {
      a1 *= x1;
      ae += xe;
    }
    x1 *= x1;
    xe *= 2;
    if (x1 < 0.5) {
      x1 += x1;
      xe--;
    }
  }

  if (y < 0) {
    a1 = 1 / a1;
    ae = -ae;
  }
  return ldexp(a1, ae);
}

// Cephes' rational approximation of atan on [0, 0.66], as in Go's math/atan.go.
function atanOnSmallRange(x: number): number {
  const P0 = -0.8750608600031904;
  const P1 = -16.157537187333652;
  const P2 = -75.00855792314705;
  const P3 = -122.88666844901361;
  const P4 = -64.85021904942025;
  const Q0 = 24.858464901423062;
  const Q1 = 165.02700983169885;
  const Q2 = 432.88106049129027;
  const Q3 = 485.3903996359137;
  const Q4 = 194.5506571482614;
  let z = x * x;
  z =
    (z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4)) /
    (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
  return x * z + x;
}

function atanOfPositive(x: number): number {
  const moreBits = 6.123233995736766e-17;
  const tan3Pi8 = 2.414213562373095;
  if (x <= 0.66) return atanOnSmallRange(x);
  if (x > tan3Pi8) return Math.PI / 2 - atanOnSmallRange(1 / x) + moreBits;
  return Math.PI / 4 + atanOnSmallRange((x - 1) / (x + 1)) + 0.5 * moreBits;
}

/** Go's `math.Atan`. */
export function goAtan(x: number): number {
  if (x === 0) return x;
  return x > 0 ? atanOfPositive(x) : -atanOfPositive(-x);
}

function copySign(magnitude: number, sign: number): number {
  const negative = sign < 0 || Object.is(sign, -0);
  return negative ? -Math.abs(magnitude) : Math.abs(magnitude);
}

/** Go's `math.Atan2`. */
export function goAtan2(y: number, x: number): number {
  if (Number.isNaN(y) || Number.isNaN(x)) return Number.NaN;
  if (y === 0) {
    if (x >= 0 && !Object.is(x, -0)) return copySign(0, y);
    return copySign(Math.PI, y);
  }
  if (x === 0) return copySign(Math.PI / 2, y);
  if (!Number.isFinite(x)) {
    if (x > 0) return Number.isFinite(y) ? copySign(0, y) : copySign(Math.PI / 4, y);
    return Number.isFinite(y) ? copySign(Math.PI, y) : copySign((3 * Math.PI) / 4, y);
  }
  if (!Number.isFinite(y)) return copySign(Math.PI / 2, y);
  const q = goAtan(y / x);
  if (x < 0) return q <= 0 ? q + Math.PI : q - Math.PI;
  return q;
}
