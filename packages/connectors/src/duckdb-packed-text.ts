/**
 * A DuckDB result's text columns read as one string per row. The Node client reads each string
 * longer than 12 bytes through a native call (about a microsecond each, whatever its length), so
 * a row of four text columns costs four. Asked for one string per row holding them all — their
 * byte lengths, then their texts — it costs one: about twice as fast for rows of several text
 * columns (15,000 TPC-H customers' four text columns: about 60 ms read as they are, 30 packed).
 *
 *     SELECT "c0", concat(<len c1>, ',', <len c2>, ';', "c1", "c2")
 *       FROM (<statement>) AS entente_packed ("c0", "c1", "c2")
 *
 * A length is the text's UTF-8 bytes, or `N` for NULL; DuckDB keeps a projection's input order,
 * so an ORDER BY inside is kept. Pure: SQL text in, rows out.
 */

/** Text columns a result needs, at least, to be read packed. */
export const MIN_PACKED_COLUMNS = 2;

/** Where a packed result's columns go in the statement's own rows. */
export interface PackedLayout {
  /** The statement's column count. */
  width: number;
  /** The statement's columns the packed result returns as they are, in order. */
  plain: number[];
  /** The statement's text columns, in the order the packed string holds them. */
  text: number[];
}

/** The statement wrapped to return its `text` columns as one packed string, after the others. */
export function packedTextSql(sql: string, layout: PackedLayout): string {
  const name = (i: number) => `"c${i}"`;
  const lengths = layout.text.map((i) => `coalesce(CAST(strlen(${name(i)}) AS VARCHAR), 'N')`);
  const packed = `concat(${lengths.join(", ',', ")}, ';', ${layout.text.map(name).join(", ")})`;
  const aliases = Array.from({ length: layout.width }, (_, i) => name(i)).join(", ");
  const select = [...layout.plain.map(name), packed].join(", ");
  return `SELECT ${select} FROM (${sql}) AS entente_packed (${aliases})`;
}

/**
 * Writes the texts of one packed string into `row` at `positions`: NULL where its length is `N`.
 * Lengths are UTF-8 bytes; where every text is ASCII they are also string positions, else the
 * characters are counted through.
 */
export function unpackText(packed: string, positions: readonly number[], row: unknown[]): void {
  const header = packed.indexOf(";");
  const lengths = packed.slice(0, header).split(",");
  let bytes = 0;
  for (const length of lengths) if (length !== "N") bytes += Number(length);
  const ascii = bytes === packed.length - header - 1;
  let at = header + 1;
  positions.forEach((position, k) => {
    const length = lengths[k];
    if (length === "N" || length === undefined) {
      row[position] = null;
      return;
    }
    const end = ascii ? at + Number(length) : endOfBytes(packed, at, Number(length));
    row[position] = packed.slice(at, end);
    at = end;
  });
}

/** The string position `bytes` UTF-8 bytes after `start`. */
function endOfBytes(text: string, start: number, bytes: number): number {
  let at = start;
  let left = bytes;
  while (left > 0) {
    const code = text.charCodeAt(at);
    if (code < 0x80) left -= 1;
    else if (code < 0x800) left -= 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair: one character of four bytes, two string positions.
      left -= 4;
      at += 1;
    } else left -= 3;
    at += 1;
  }
  return at;
}
