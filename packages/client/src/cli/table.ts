/** Renders rows as an aligned plain-text table, the way a terminal user reads them. */
export function renderTable(columns: string[], rows: unknown[][]): string {
  const cells = rows.map((row) => row.map(cellText));
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((row) => (row[i] ?? "").length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return numberText(value);
  if (typeof value === "object")
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  return String(value);
}

/**
 * A double with at most 15 significant digits: a sum such as 36.190999999999995 is that exact
 * double, but a person expects 36.191. Integers are printed whole.
 */
export function numberText(value: number): string {
  if (Number.isInteger(value) || !Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(15)));
}

/** Nanoseconds since the epoch (bigint, decimal string or number) as RFC 3339 in UTC. */
export function formatTimestamp(ns: string | bigint | number): string {
  const value = BigInt(ns);
  // Floor division, so an instant before 1970 keeps a fraction in [0, 1) second.
  let seconds = value / 1_000_000_000n;
  let nanos = value % 1_000_000_000n;
  if (nanos < 0n) {
    seconds -= 1n;
    nanos += 1_000_000_000n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const fraction = nanos.toString().padStart(9, "0").replace(/0+$/, "");
  return `${iso}${fraction ? `.${fraction}` : ""}Z`;
}
