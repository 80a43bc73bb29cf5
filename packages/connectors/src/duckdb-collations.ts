/**
 * Which columns of a DuckDB table or view carry a collation of their own. DuckDB's catalog
 * functions report none (`duckdb_columns()` has no such column,
 * `information_schema.columns.collation_name` is always NULL), but the CREATE TABLE text it
 * regenerates for a table (`duckdb_tables().sql`) names it:
 * `CREATE TABLE t(a VARCHAR COLLATE NOCASE, b VARCHAR);`. A view's column takes the collation
 * of what it is computed from (`upper(a)` and `a::VARCHAR` keep NOCASE, `a COLLATE "C"` drops
 * it), which its text does not say; a probe asks DuckDB instead.
 */

/** Collations that compare by code point, exactly, as the engine compares text. */
const CODE_POINT_COLLATIONS = new Set(["binary", "c", "posix"]);

/** Words that begin a table constraint rather than a column in a CREATE TABLE's list. */
const TABLE_CONSTRAINTS = new Set(["constraint", "primary", "unique", "check", "foreign"]);

type Token =
  | { k: "word"; v: string }
  | { k: "ident"; v: string }
  | { k: "string" }
  | { k: "punct"; v: string };

/**
 * The names of the columns `createSql` declares with a collation that compares otherwise than by
 * code point (NOCASE, NOACCENT, a locale's, or a combination such as `nocase.noaccent`), and of
 * its generated columns, which may take one from the columns they are computed from (compared in
 * C, a generated column without one answers as it would anyway).
 */
export function collatedColumns(createSql: string): Set<string> {
  const out = new Set<string>();
  for (const definition of columnDefinitions(tokenize(createSql))) {
    const [name] = definition;
    if (!name || name.k === "punct" || name.k === "string") continue;
    if (name.k === "word" && TABLE_CONSTRAINTS.has(name.v.toLowerCase())) continue;
    const collation = collationOf(definition);
    const generated = wordAt(definition, "generated") >= 0;
    if (generated || (collation !== undefined && !CODE_POINT_COLLATIONS.has(collation)))
      out.add(name.v);
  }
  return out;
}

/** The collation a column definition names after COLLATE, lower-cased. */
function collationOf(definition: Token[]): string | undefined {
  const at = wordAt(definition, "collate");
  if (at < 0) return undefined;
  // A name, or names joined by dots (`nocase.noaccent`).
  const parts: string[] = [];
  for (let j = at + 1; j < definition.length; j += 2) {
    const p = definition[j] as Token;
    if (p.k !== "word" && p.k !== "ident") break;
    parts.push(p.v);
    const next = definition[j + 1];
    if (!(next?.k === "punct" && next.v === ".")) break;
  }
  return parts.join(".").toLowerCase();
}

/** Where a definition holds `word` at its own level (outside parentheses), or -1. */
function wordAt(definition: Token[], word: string): number {
  let depth = 0;
  for (let i = 0; i < definition.length; i++) {
    const t = definition[i] as Token;
    if (t.k === "punct" && t.v === "(") depth++;
    else if (t.k === "punct" && t.v === ")") depth--;
    else if (depth === 0 && t.k === "word" && t.v.toLowerCase() === word) return i;
  }
  return -1;
}

/** The comma-separated definitions inside the statement's first parentheses. */
function columnDefinitions(tokens: Token[]): Token[][] {
  const open = tokens.findIndex((t) => t.k === "punct" && t.v === "(");
  if (open < 0) return [];
  const definitions: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens.slice(open + 1)) {
    if (t.k === "punct" && t.v === "(") depth++;
    if (t.k === "punct" && t.v === ")" && depth-- === 0) break;
    if (depth === 0 && t.k === "punct" && t.v === ",") definitions.push([]);
    else definitions[definitions.length - 1]?.push(t);
  }
  return definitions;
}

const WORD = /[\p{L}\p{N}_$]/u;

/** Words, quoted identifiers (unquoted), string literals (their text is never needed) and marks. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] as string;
    if (ch === "'" || ch === '"') {
      // A doubled quote inside is the quote itself.
      let text = "";
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch && sql[j + 1] === ch) {
          text += ch;
          j += 2;
        } else if (sql[j] === ch) break;
        else text += sql[j++];
      }
      tokens.push(ch === "'" ? { k: "string" } : { k: "ident", v: text });
      i = j + 1;
    } else if (WORD.test(ch)) {
      let j = i;
      while (j < sql.length && WORD.test(sql[j] as string)) j++;
      tokens.push({ k: "word", v: sql.slice(i, j) });
      i = j;
    } else {
      if (!/\s/.test(ch)) tokens.push({ k: "punct", v: ch });
      i++;
    }
  }
  return tokens;
}

/**
 * Strings that case and accent folding, Unicode normalization (é written as one code point or
 * as e and a combining accent) and a locale's order each tell apart otherwise than code points.
 */
const PROBE_STRINGS = ["a", "A", "B", "e", "\u00e9", "e\u0301"];
/** Comparisons of each probe string; a collation changes the answer to at least one. */
const PROBE_TESTS: readonly { op: "=" | "<"; literal: string }[] = [
  { op: "=", literal: "a" },
  { op: "=", literal: "e" },
  { op: "=", literal: "\u00e9" },
  { op: "<", literal: "a" },
  { op: "<", literal: "B" },
];
/**
 * Columns per probe statement: each adds a comparison per test, and DuckDB's time grows faster
 * than the statement does.
 */
const PROBE_COLUMNS = 100;

export interface CollationProbe {
  /** A row per probe string: the string, then each column's answer to each of PROBE_TESTS. */
  readonly sql: string;
  /** The columns that answered otherwise than by code point in the probe's rows. */
  collated(rows: readonly (readonly unknown[])[]): string[];
}

/**
 * Statements that compare the probe strings as each of `columns` (text columns of `relation`)
 * would: no rows of the relation are read, but a UNION ALL gives the strings each column's
 * collation, and the answers, checked against code point order here (not against a plain
 * VARCHAR's, which a `default_collation` setting would fold too), tell which columns compare
 * otherwise.
 */
export function collationProbes(
  quote: (name: string) => string,
  relation: string,
  columns: readonly string[],
): CollationProbe[] {
  const probes: CollationProbe[] = [];
  for (let at = 0; at < columns.length; at += PROBE_COLUMNS)
    probes.push(collationProbe(quote, relation, columns.slice(at, at + PROBE_COLUMNS)));
  return probes;
}

function collationProbe(
  quote: (name: string) => string,
  relation: string,
  columns: readonly string[],
): CollationProbe {
  const tests = columns.flatMap((_, i) =>
    PROBE_TESTS.map(({ op, literal }) => `c${i} ${op} '${literal}'`),
  );
  const strings = PROBE_STRINGS.map((s) => `'${s}'`).join(", ");
  const sql = `SELECT probe, ${tests.join(", ")} FROM (
    SELECT CAST(NULL AS VARCHAR) AS probe, ${columns.map((c, i) => `${quote(c)} AS c${i}`).join(", ")}
      FROM ${relation} WHERE false
    UNION ALL SELECT s, ${columns.map(() => "s").join(", ")} FROM (SELECT unnest([${strings}]) AS s))`;
  return {
    sql,
    collated(rows) {
      const otherwise = new Set<string>();
      for (const row of rows) {
        const probe = String(row[0]);
        columns.forEach((column, i) => {
          PROBE_TESTS.forEach(({ op, literal }, j) => {
            // UTF-16 order is code point order for these strings.
            const byCodePoint = op === "=" ? probe === literal : probe < literal;
            if (row[1 + i * PROBE_TESTS.length + j] !== byCodePoint) otherwise.add(column);
          });
        });
      }
      return [...otherwise];
    },
  };
}
