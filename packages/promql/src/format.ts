/**
 * Sample values as Prometheus writes them, in its API and in `count_values`' labels: Go's
 * `strconv.FormatFloat(v, 'f', -1, 64)` — the shortest digits that read back exactly, never in
 * exponent notation ("1e+21" is written "1000000000000000000000") — with Go's spellings
 * "+Inf", "-Inf", "NaN" and "-0".
 */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";

  // toExponential() without an argument gives the shortest round-tripping digits.
  const [mantissa = "", exponentText = "0"] = Math.abs(v).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const pointAt = Number(exponentText) + 1; // digits before the decimal point
  let text: string;
  if (pointAt <= 0) text = `0.${"0".repeat(-pointAt)}${digits}`;
  else if (pointAt >= digits.length) text = digits + "0".repeat(pointAt - digits.length);
  else text = `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return v < 0 ? `-${text}` : text;
}

/** A sample value read back from Prometheus' API form. */
export function parseSampleValue(text: string): number {
  switch (text) {
    case "NaN":
      return Number.NaN;
    case "+Inf":
    case "Inf":
      return Number.POSITIVE_INFINITY;
    case "-Inf":
      return Number.NEGATIVE_INFINITY;
    default:
      return Number(text);
  }
}
