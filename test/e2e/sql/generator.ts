/**
 * A seeded generator of SELECT statements over the differential tables: joins of 2–4 tables
 * (inner, left, right and full; on keys and on text columns of different kinds, with extra ON
 * conditions), filters (text equality that differs only in case or trailing blanks, LIKE, NULL
 * checks and NULL operands, ranges, IN lists, CASE, OR and NOT), literals, arithmetic, CASE,
 * COALESCE and text functions in the SELECT list, aggregates (COUNT, COUNT(DISTINCT), SUM, MIN,
 * MAX, AVG, HAVING), ORDER BY with a total order and LIMIT/OFFSET, DISTINCT, UNION ALL,
 * subqueries in FROM, CTEs and IN / NOT IN / EXISTS subqueries.
 *
 * And the newer constructs, alone and mixed into the above: tables listed with commas in an
 * order the join order must not follow (now and then with an unrelated one), OR conditions
 * repeating a join key in every branch, date arithmetic (`± INTERVAL`, `± integer`, `date -
 * date`), EXTRACT / date_part / date_trunc, `substring(… FROM … FOR …)`, bounds written as
 * decimal literal arithmetic that lands on a row's value, GROUP BY ROLLUP / CUBE (also crossed
 * with plain keys) / GROUPING SETS (with `()`, a nested ROLLUP, GROUP BY DISTINCT) and
 * GROUPING(), window functions (partitioned by columns and expressions; ranking, percent_rank and
 * cume_dist, offsets, first/last/nth_value, aggregates over the default frame, ROWS, GROUPS and
 * RANGE frames, RANGE also by an offset, EXCLUDE; over joins, over groups, in derived tables for top-N),
 * UNION / INTERSECT / EXCEPT chains (with and without ALL), column alias lists on derived tables
 * and CTEs, scalar subqueries correlated by equalities (SELECT list, WHERE, HAVING) and EXISTS
 * correlated by an equality and other comparisons, decimal division, modulo and round() (whose
 * answers must match PostgreSQL's numeric to the last digit and scale).
 *
 * Values are literals or bound parameters (`$1`, `$2`, … numbered in text order or shuffled, a
 * value sometimes bound once and used twice). A `char(n)` value is text without its padding, as
 * docs/sql-join.md defines it; the reference reads such columns through views of that shape.
 *
 * Every statement is plain SQL that PostgreSQL runs as written, so PostgreSQL holding all tables
 * is the reference. Table names are tokens (`tableRef`) that `renderTables` replaces with the
 * names a layout uses.
 */
import { type ColumnType, differentialTables, TABLE_SCHEMAS } from "./fixtures.ts";
import { type Random, seededRandom } from "./random.ts";

export type Param = string | number | null;

export interface GeneratedQuery {
  /** Position in the sequence; with the seed it reproduces the query. */
  index: number;
  /** The shape, for grouping failures: e.g. `join3-left/aggregate`. */
  kind: string;
  /** The statement with table-name tokens, for `renderTables`. */
  template: string;
  /** The statement over the tables' own names. */
  sql: string;
  /** Values bound to `$1`, `$2`, … in `sql`. */
  params: Param[];
  /** The statement's ORDER BY is a total order: rows must also arrive in that order. */
  ordered: boolean;
}

const TABLE_TOKEN = /⟪(\w+)⟫/g;

/** A table name as a token that `renderTables` replaces. */
export const tableRef = (table: string) => `⟪${table}⟫`;

/** `template` with each table token replaced by `name(table)`. */
export function renderTables(template: string, name: (table: string) => string): string {
  return template.replace(TABLE_TOKEN, (_, table: string) => name(table));
}

type Alias = "u" | "o" | "p" | "c" | "r" | "n";

const TABLE: Record<Alias, string> = {
  u: "users",
  o: "orders",
  p: "products",
  c: "countries",
  r: "refunds",
  n: "nation",
};

const from = (alias: Alias, as: string = alias) => `${tableRef(TABLE[alias])} ${as}`;

function columnTypes(table: string): Record<string, ColumnType> {
  const schema = TABLE_SCHEMAS.find((t) => t.name === table);
  if (!schema) throw new Error(`no table ${table}`);
  return Object.fromEntries(schema.columns.map((c) => [c.name, c.type]));
}

const COLUMNS = Object.fromEntries(
  Object.entries(TABLE).map(([alias, table]) => [alias, columnTypes(table)]),
) as Record<Alias, Record<string, ColumnType>>;

/** Columns that order each table's rows totally (a key, or all columns for `countries`). */
const ORDER_KEY: Record<Alias, string[]> = {
  u: ["id"],
  o: ["id"],
  p: ["id"],
  c: ["region", "code"],
  r: ["id"],
  n: ["n_nationkey"],
};

/** Join edges: which aliases connect and on what; `text` edges compare text of two kinds. */
const EDGES: { a: Alias; b: Alias; on: string; text?: boolean }[] = [
  { a: "u", b: "o", on: "u.id = o.user_id" },
  { a: "o", b: "p", on: "o.product_id = p.id" },
  { a: "u", b: "c", on: "u.country = c.code" },
  { a: "o", b: "r", on: "o.id = r.order_id" },
  { a: "o", b: "n", on: "o.qty = n.n_regionkey" },
  { a: "c", b: "n", on: "c.nation = n.n_name", text: true }, // varchar = char(25)
  { a: "u", b: "p", on: "u.tag = p.code", text: true }, // char(8) = char(4)
  { a: "o", b: "p", on: "o.note = p.label", text: true }, // text = varchar(12)
  { a: "u", b: "o", on: "u.tag = o.note", text: true }, // char(8) = text
];

/** Join orders the generator draws from; each later alias joins an earlier one. */
const SHAPES: Alias[][] = [
  ["u", "o"],
  ["o", "u"],
  ["o", "p"],
  ["u", "c"],
  ["c", "u"],
  ["o", "r"],
  ["u", "p"],
  ["n", "c"],
  ["c", "n"],
  ["n", "o"],
  ["u", "o", "p"],
  ["c", "u", "o"],
  ["p", "o", "u"],
  ["u", "c", "n"],
  ["o", "n", "c"],
  ["c", "u", "o", "p"],
  ["u", "o", "p", "c"],
  ["u", "o", "r", "p"],
  ["n", "c", "u", "o"],
];

const TEXT_TYPES: ColumnType[] = ["char", "varchar", "text"];
const NUMERIC: ColumnType[] = ["int", "decimal"];

/**
 * The type PostgreSQL infers for a bound value from where it stands; a value bound once and used
 * twice must stand where the same type is inferred.
 */
type Context = ColumnType | "bigint" | "pattern" | "charPattern" | "divisor" | "count";

const q = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** A bound value's place in a statement being made, numbered when the statement is done. */
const PARAM_TOKEN = /⟨(\d+)⟩/g;
const isBound = (text: string) => /^⟨\d+⟩$/.test(text);

/** The random source, and how a value enters the statement: a literal or a bound parameter. */
interface Gen extends Random {
  value(value: Param, context: Context): string;
}

const charValue = (r: Gen, values: string[]) => r.value(r.pick(values), "char");
/** A LIKE pattern for a `char(n)` column, some of which would match PostgreSQL's padding. */
const charPattern = (r: Gen, patterns: string[]) => r.value(r.pick(patterns), "charPattern");
const list = (r: Gen, values: string[]) => values.map((v) => r.value(v, "varchar")).join(", ");

const pad2 = (n: number) => String(n).padStart(2, "0");
const dateText = (r: Gen) => `2024-${pad2(r.int(1, 12))}-${pad2(r.int(1, 28))}`;
const timestampText = (r: Gen) => `${dateText(r)} ${pad2(r.int(0, 23))}:${pad2(r.int(0, 59))}:00`;

/**
 * An integer where PostgreSQL would not infer a bound value's type (it reads `substring(x FROM
 * $1 FOR $2)` as the regular-expression form): cast when bound. `count`: never negative.
 */
function integer(r: Gen, n: number, context: Context = "int"): string {
  const v = r.value(n, context);
  return isBound(v) ? `CAST(${v} AS integer)` : v;
}

/** A date constant: a `DATE '…'` literal, or a bound value cast to date. */
function dateConstant(r: Gen): string {
  const v = r.value(dateText(r), "date");
  return isBound(v) ? `CAST(${v} AS date)` : `DATE ${v}`;
}

/** An interval in one of the forms the engine reads (a unit after the quantity, or in it). */
const interval = (r: Gen) =>
  r.pick([
    () => `INTERVAL '${r.int(1, 90)}' DAY`,
    () => `INTERVAL '${r.int(1, 14)}' MONTH`,
    () => `INTERVAL '${r.int(1, 2)}' YEAR`,
    () => `INTERVAL '1 year 2 months'`,
    () => `INTERVAL '${r.int(2, 45)} days'`,
  ])();

const sign = (r: Gen) => r.pick(["+", "-"]);
const comparison = (r: Gen) => r.pick(["<", "<=", ">", ">="]);

const DATE_FIELDS = ["year", "quarter", "month", "day", "dow", "isodow", "doy", "week", "isoyear"];
const TIMESTAMP_FIELDS = [...DATE_FIELDS, "hour", "minute", "epoch"];
const TRUNC_UNITS = ["year", "quarter", "month", "week", "day"];

/** A field of a date (or timestamp) as EXTRACT or date_part, a number. */
function datePart(r: Gen, ref: string, timestamp: boolean): string {
  const field = r.pick(timestamp ? TIMESTAMP_FIELDS : DATE_FIELDS);
  return r.chance(0.7) ? `EXTRACT(${field} FROM ${ref})` : `date_part('${field}', ${ref})`;
}

/** A predicate on a date or timestamp column through interval and day arithmetic. */
function dateFilter(r: Gen, ref: string, timestamp: boolean): string {
  return r.pick([
    () => `${ref} ${comparison(r)} ${dateConstant(r)} ${sign(r)} ${interval(r)}`,
    () =>
      `${ref} ${sign(r)} ${interval(r)} ${comparison(r)} ${r.value(timestampText(r), "timestamp")}`,
    () =>
      `${ref} BETWEEN ${dateConstant(r)} - ${interval(r)} AND ${dateConstant(r)} + ${interval(r)}`,
    () =>
      timestamp
        ? `CAST(${ref} AS date) - ${dateConstant(r)} ${comparison(r)} ${r.value(r.int(-200, 200), "int")}`
        : `${ref} ${sign(r)} ${integer(r, r.int(1, 60))} ${comparison(r)} ${dateConstant(r)}`,
    () =>
      `${dateConstant(r)} - ${timestamp ? `CAST(${ref} AS date)` : ref} < ${integer(r, r.int(0, 300))}`,
    () => `${datePart(r, ref, timestamp)} ${comparison(r)} ${r.int(1, 40)}`,
    () => {
      const field = r.pick(["month", "quarter", "week", "doy"]);
      return `EXTRACT(${field} FROM ${ref}) ${comparison(r)} EXTRACT(${field} FROM ${dateConstant(r)})`;
    },
    () =>
      `EXTRACT(${r.pick(["month", "quarter", "dow"])} FROM ${ref}) IN (${r.int(0, 3)}, ${r.int(4, 7)})`,
    () =>
      `date_trunc('${r.pick(TRUNC_UNITS)}', ${ref}) ${r.pick(["=", "<", ">="])} ${r.value(`2024-${pad2(r.int(1, 12))}-01`, "timestamp")}`,
  ])();
}

/** `substring(… FROM a FOR b)` (now and then without FOR), from before the start on. */
function substringOf(r: Gen, ref: string): string {
  const start = integer(r, r.int(-1, 4));
  return r.chance(0.8)
    ? `substring(${ref} FROM ${start} FOR ${integer(r, r.int(0, 4), "count")})`
    : `substring(${ref} FROM ${start})`;
}

const substringFilter = (r: Gen, ref: string) =>
  `${substringOf(r, ref)} ${r.pick(["=", "<>", "<", ">="])} ${r.value(r.pick(["a", "A", "b", "", " ", "ab", "a ", "RA", "ook"]), "text")}`;

/** The distinct values (in cents) of a decimal column, for bounds that land on rows. */
function centsOf(table: string, column: string): number[] {
  const def = differentialTables().find((t) => t.name === table)!;
  const at = def.columns.findIndex((c) => c.name === column);
  const values = def.rows.flatMap((row) => (typeof row[at] === "number" ? [row[at]] : []));
  return [...new Set(values.map((v) => Math.round(v * 100)))].sort((a, b) => a - b);
}

const CENTS = { total: centsOf("orders", "total"), price: centsOf("products", "price") };
const decimal = (cents: number) => (cents / 100).toFixed(2);

/**
 * A bound on a decimal column written as arithmetic between decimal literals, which the engine
 * folds exactly: a row's value is a bound, which float arithmetic would miss.
 */
function foldedBound(r: Gen, ref: string, values: number[]): string {
  const v = r.pick(values);
  const d = r.pick([1, 5, 100, 2500]);
  return r.pick([
    () => `${ref} BETWEEN ${decimal(v + d)} - ${decimal(d)} AND ${decimal(v + d)} + ${decimal(d)}`,
    () => `${ref} = ${decimal(v - d)} + ${decimal(d)}`,
    () => `${ref} ${comparison(r)} ${decimal(v + d)} - ${decimal(d)}`,
    () => `${ref} = 0.1 * ${(v / 10).toFixed(1)}`,
    () => `${ref} NOT BETWEEN ${decimal(v)} - 0.01 AND ${decimal(v)} + 0.01`,
  ])();
}

/** Filters per alias: each one a predicate PostgreSQL and the engine must agree on. */
const FILTERS: Record<Alias, ((r: Gen) => string)[]> = {
  u: [
    (r) => `u.country = ${r.value(r.pick(["US", "us", "DE", "FR", "JP", "ZZ"]), "varchar")}`,
    () => "u.country IS NULL",
    () => "u.country IS NOT NULL",
    (r) => `u.age > ${r.value(r.int(20, 70), "int")}`,
    (r) => `u.age BETWEEN ${r.value(r.int(18, 40), "int")} AND ${r.value(r.int(40, 80), "int")}`,
    () => "u.age IS NULL",
    (r) =>
      `u.name = ${r.value(r.pick(["alice", "Alice", "o'brien", "BOB", "nobody", "bob "]), "varchar")}`,
    (r) => `u.name <> ${r.value(r.pick(["alice", "bob"]), "varchar")}`,
    (r) => `u.name LIKE ${r.value(r.pick(["a%", "A%", "%o%", "_ob"]), "pattern")}`,
    (r) => `u.signup >= ${r.value(`2024-${String(r.int(1, 12)).padStart(2, "0")}-01`, "date")}`,
    (r) => `u.id < ${r.value(r.int(10, 300), "int")}`,
    (r) => `u.country IN (${list(r, r.sample(["US", "us", "DE", "BR", "XX"], r.int(1, 3)))})`,
    (r) =>
      `u.country IN (${r.value(r.pick(["US", "DE"]), "varchar")}, ${r.value(null, "varchar")})`,
    (r) =>
      `(u.age < ${r.value(r.int(20, 40), "int")} OR u.country = ${r.value(r.pick(["FR", "us"]), "varchar")})`,
    (r) => `NOT (u.country = ${r.value(r.pick(["US", "DE"]), "varchar")})`,
    (r) => {
      const name = r.value(r.pick(["bob", "BOB", "US"]), "varchar");
      return `(u.name = ${name} OR u.country = ${name})`;
    },
    (r) => `u.age IN (${r.value(r.int(18, 40), "int")}, ${r.value(null, "int")})`,
    (r) => `u.age NOT IN (${r.value(r.int(18, 40), "int")}, ${r.value(r.pick([null, 50]), "int")})`,
    (r) => `u.age = ${r.value(null, "int")}`,
    (r) => `COALESCE(u.age, ${r.value(r.int(0, 99), "int")}) > ${r.value(r.int(30, 60), "int")}`,
    (r) =>
      `CASE WHEN u.age > ${r.value(r.int(20, 60), "int")} THEN u.country ELSE ${r.value("old", "varchar")} END = ${r.value(r.pick(["US", "old", "DE"]), "varchar")}`,
    (r) => `u.tag = ${charValue(r, ["a", "A", "b", "ab", "a b", " a", "", "FRANCE", "zz"])}`,
    (r) => `u.tag <> ${charValue(r, ["a", "b", ""])}`,
    (r) =>
      `u.tag IN (${charValue(r, ["a", "ab", " a"])}, ${charValue(r, ["b", ""])}${r.chance(0.3) ? ", NULL" : ""})`,
    (r) => `u.tag ${r.pick(["<", ">=", ">"])} ${charValue(r, ["a", "a b", "b", ""])}`,
    () => "u.tag IS NULL",
    (r) => `u.tag LIKE ${charPattern(r, ["a%", "%b%", " a%", "A%", " %", "% "])}`,
    (r) => `length(u.tag) ${r.pick(["=", "<", ">"])} ${r.value(r.int(0, 3), "int")}`,
    (r) => dateFilter(r, "u.signup", false),
    (r) => dateFilter(r, "u.signup", false),
    (r) => substringFilter(r, r.pick(["u.tag", "u.name", "u.country"])),
  ],
  o: [
    (r) => `o.status = ${r.value(r.pick(["paid", "PAID", "shipped", "Shipped"]), "varchar")}`,
    (r) => `o.status <> ${r.value(r.pick(["cancelled", "paid"]), "varchar")}`,
    (r) => `o.total > ${r.value(r.int(0, 450), "decimal")}`,
    (r) => `o.total <= ${r.value(r.int(10, 400) + 0.5, "decimal")}`,
    () => "o.total IS NULL",
    () => "o.user_id IS NULL",
    () => "o.product_id IS NOT NULL",
    (r) =>
      `o.qty IN (${r
        .sample([1, 2, 3, 4, 5], r.int(1, 3))
        .map((v) => r.value(v, "int"))
        .join(", ")})`,
    (r) =>
      `(o.qty >= ${r.value(r.int(2, 4), "int")} AND o.total < ${r.value(r.int(50, 400), "decimal")})`,
    (r) =>
      `o.user_id BETWEEN ${r.value(r.int(1, 50), "int")} AND ${r.value(r.int(50, 320), "int")}`,
    (r) => `o.status IN (${list(r, r.sample(["paid", "PAID", "shipped", "cancelled"], 2))})`,
    (r) => {
      const id = r.value(r.int(1, 30), "int");
      return `(o.user_id = ${id} OR o.product_id = ${id})`;
    },
    (r) => `o.note = ${r.value(r.pick(["a", "a ", "A", " a", "", "b ", "FRANCE "]), "text")}`,
    (r) => `o.note <> ${r.value(r.pick(["a", "a "]), "text")}`,
    (r) => `o.note ${r.pick(["<", ">="])} ${r.value(r.pick(["a ", "b", "ab"]), "text")}`,
    (r) =>
      `o.note IN (${r.value(r.pick(["a", "a  "]), "text")}, ${r.value(r.pick(["b ", "", null]), "text")})`,
    (r) => `o.note LIKE ${r.value(r.pick(["a %", "% ", "a_", "%a", "_"]), "pattern")}`,
    () => "o.note IS NULL",
    (r) => `length(o.note) ${r.pick(["=", ">"])} ${r.value(r.int(0, 2), "int")}`,
    (r) => `upper(o.note) = ${r.value(r.pick(["A", "A ", "FRANCE "]), "text")}`,
    (r) => dateFilter(r, "o.created_at", true),
    (r) => dateFilter(r, "o.created_at", true),
    (r) => foldedBound(r, "o.total", CENTS.total),
    (r) => substringFilter(r, r.pick(["o.note", "o.status"])),
  ],
  p: [
    (r) => `p.category = ${r.value(r.pick(["books", "Books", "games", "TOOLS"]), "varchar")}`,
    () => "p.category IS NULL",
    (r) => `p.price < ${r.value(r.int(10, 190), "decimal")}`,
    (r) => `p.name LIKE ${r.value(r.pick(["%book", "green%", "Green%", "%a%"]), "pattern")}`,
    (r) => `p.id <= ${r.value(r.int(5, 85), "int")}`,
    (r) => `p.code = ${charValue(r, ["a", "ab", "B", " a", "", "abcd"])}`,
    () => "p.code IS NOT NULL",
    (r) => `p.label = ${r.value(r.pick(["a", "a ", "ab ", "books ", ""]), "varchar")}`,
    (r) => `p.label ${r.pick(["<", ">"])} ${r.value(r.pick(["a ", "ab", "b"]), "varchar")}`,
    (r) => `p.label LIKE ${r.value(r.pick(["%b ", "a%", "% "]), "pattern")}`,
    () => "p.code = p.label",
    () => "p.code <> p.label",
    (r) => foldedBound(r, "p.price", CENTS.price),
    (r) => substringFilter(r, r.pick(["p.code", "p.label", "p.name"])),
  ],
  c: [
    (r) => `c.region = ${r.value(r.pick(["Europe", "Americas", "europe"]), "varchar")}`,
    (r) => `c.code = ${r.value(r.pick(["us", "US", "XX"]), "varchar")}`,
    () => "c.code IS NOT NULL",
    (r) =>
      `c.nation = ${r.value(r.pick(["FRANCE", "FRANCE ", "france", "UNITED STATES"]), "varchar")}`,
    (r) => `c.nation LIKE ${r.value(r.pick(["FR%", "% ", " %"]), "pattern")}`,
    () => "c.nation IS NULL",
    (r) => substringFilter(r, r.pick(["c.nation", "c.region"])),
  ],
  r: [() => "r.reason IS NULL", (r) => `r.amount > ${r.value(r.int(1, 10), "decimal")}`],
  n: [
    (r) => `n.n_name = ${charValue(r, ["FRANCE", "GERMANY", "france", " FRANCE", "JAPAN"])}`,
    (r) =>
      `n.n_name IN (${charValue(r, ["FRANCE", "UNITED STATES"])}, ${charValue(r, ["JAPAN", "PERU"])})`,
    (r) => `n.n_name LIKE ${charPattern(r, ["F%", "%A%", "UNITED%", "% "])}`,
    (r) => `n.n_name ${r.pick(["<", ">="])} ${charValue(r, ["G", "JAPAN", "UNITED STATES"])}`,
    (r) => `n.n_regionkey = ${r.value(r.int(0, 4), "int")}`,
    () => "n.n_regionkey IS NULL",
    () => "n.n_name IS NULL",
    (r) => `length(n.n_name) > ${r.value(r.int(4, 8), "int")}`,
    (r) => `n.n_nationkey < ${r.value(r.int(5, 28), "int")}`,
    (r) => substringFilter(r, "n.n_name"),
  ],
};

interface Column {
  ref: string;
  alias: Alias;
  name: string;
  type: ColumnType;
}

function columnsOf(aliases: Alias[]): Column[] {
  return aliases.flatMap((alias) =>
    Object.entries(COLUMNS[alias]).map(([name, type]) => ({
      ref: `${alias}.${name}`,
      alias,
      name,
      type,
    })),
  );
}

const ofTypes = (columns: Column[], types: ColumnType[]) =>
  columns.filter((c) => types.includes(c.type));

interface From {
  sql: string;
  aliases: Alias[];
  kind: string;
  /** A RIGHT or FULL join: any table's rows may be NULL-extended. */
  outer: boolean;
  /** Join conditions for the WHERE clause, of tables listed with commas. */
  conditions?: string[];
}

/** Key edges twice as often as text ones, which multiply rows. */
function pickEdge(r: Gen, alias: Alias, joined: Alias[]) {
  const edges = EDGES.filter(
    (e) => (e.a === alias && joined.includes(e.b)) || (e.b === alias && joined.includes(e.a)),
  );
  if (edges.length === 0) throw new Error(`no join edge for ${alias} after ${joined.join(",")}`);
  const keyEdges = edges.filter((e) => !e.text);
  return keyEdges.length > 0 && r.chance(0.67) ? r.pick(keyEdges) : r.pick(edges);
}

/**
 * A join condition written as an OR whose every branch repeats it with other conditions on
 * either table (TPC-H Q19's shape): the shared condition is still the join key.
 */
function sharedKeyOr(r: Gen, edge: (typeof EDGES)[number]): string {
  const branches = Array.from({ length: r.int(2, 3) }, () => {
    const extra = Array.from({ length: r.int(1, 2) }, () => filterOn(r, r.pick([edge.a, edge.b])));
    return `(${[edge.on, ...extra].join(" AND ")})`;
  });
  return `(${branches.join(" OR ")})`;
}

function fromClause(r: Gen, shape: Alias[]): From {
  let sql = from(shape[0]!);
  const joined: Alias[] = [shape[0]!];
  const kinds = new Set<string>();
  for (const alias of shape.slice(1)) {
    const edge = pickEdge(r, alias, joined);
    const roll = r.next();
    const join =
      roll < 0.58 ? "JOIN" : roll < 0.88 ? "LEFT JOIN" : roll < 0.94 ? "RIGHT JOIN" : "FULL JOIN";
    if (join !== "JOIN") kinds.add(join.split(" ")[0]!.toLowerCase());
    if (edge.text) kinds.add("text");
    if (r.chance(0.1)) {
      kinds.add("or");
      sql += ` ${join} ${from(alias)} ON ${sharedKeyOr(r, edge)}`;
    } else {
      // An extra ON condition on either side: under an outer join it must not filter that side.
      const extra = r.chance(0.25) ? ` AND ${filterOn(r, r.pick([alias, ...joined]))}` : "";
      sql += ` ${join} ${from(alias)} ON ${edge.on}${extra}`;
    }
    joined.push(alias);
  }
  const kind = `join${shape.length}${[...kinds].map((k) => `-${k}`).join("")}`;
  return { sql, aliases: joined, kind, outer: kinds.has("right") || kinds.has("full") };
}

/** Shapes for FROM lists: three tables and more, and five that join in a chain. */
const LIST_SHAPES: Alias[][] = [
  ...SHAPES.filter((shape) => shape.length >= 3),
  ["n", "c", "u", "o", "p"],
  ["p", "o", "u", "c", "n"],
];

/**
 * The shape's tables listed with commas in a shuffled order (so a table often comes before any
 * it joins), their join conditions in WHERE — one now and then as an OR repeating it
 * in every branch. The engine picks the join order by cost; the answer must not change.
 */
function fromList(r: Gen, shape: Alias[]): From {
  const edges = shape.slice(1).map((alias, i) => pickEdge(r, alias, shape.slice(0, i + 1)));
  const orAt = r.chance(0.3) ? r.int(0, edges.length - 1) : -1;
  const conditions = edges.map((e, i) => (i === orAt ? sharedKeyOr(r, e) : e.on));
  // Now and then a few nations that join nothing: a cross product the order must keep small.
  const cross = !shape.includes("n") && r.chance(0.2);
  if (cross) conditions.push(`n.n_nationkey < ${r.int(1, 3)}`);
  const aliases = r.sample(
    cross ? [...shape, "n" as const] : shape,
    shape.length + (cross ? 1 : 0),
  );
  // Now and then a listed table carries a LEFT JOIN, which binds tighter than the commas; it is
  // listed last (the parser does not read a comma after JOIN … ON).
  const left = shape.includes("u") && !aliases.includes("c") && r.chance(0.25);
  if (left) aliases.push(...aliases.splice(aliases.indexOf("u"), 1));
  const item = (a: Alias) =>
    a === "u" && left ? `${from("u")} LEFT JOIN ${from("c")} ON u.country = c.code` : from(a);
  const text = edges.some((e) => e.text) ? "-text" : "";
  return {
    sql: aliases.map(item).join(", "),
    aliases: left ? [...aliases, "c"] : aliases,
    kind: `list${shape.length}${text}${orAt >= 0 ? "-or" : ""}${cross ? "-cross" : ""}${left ? "-left" : ""}`,
    outer: false,
    conditions: r.sample(conditions, conditions.length),
  };
}

const filterOn = (r: Gen, alias: Alias) => r.pick(FILTERS[alias])(r);

/** Two text columns of (usually) different tables and kinds compared with each other. */
function textComparison(r: Gen, aliases: Alias[]): string {
  const [a, b] = r.sample(ofTypes(columnsOf(aliases), TEXT_TYPES), 2);
  return `${a!.ref} ${r.pick(["=", "=", "<>", "<", ">="])} ${b!.ref}`;
}

/** An order's time against its user's signup date moved by an interval or a number of days. */
const datesCompared = (r: Gen) =>
  r.pick([
    () => `o.created_at ${comparison(r)} u.signup ${sign(r)} ${interval(r)}`,
    () =>
      `CAST(o.created_at AS date) - u.signup ${comparison(r)} ${r.value(r.int(-60, 60), "int")}`,
    () => `u.signup + ${r.int(0, 90)} ${comparison(r)} o.created_at`,
  ])();

function whereClause(r: Gen, aliases: Alias[], max = 2, conditions: string[] = []): string {
  const predicates = [
    ...conditions,
    ...Array.from({ length: r.int(0, max) }, () => filterOn(r, r.pick(aliases))),
  ];
  if (aliases.length > 1 && r.chance(0.2)) predicates.push(textComparison(r, aliases));
  if (aliases.includes("u") && aliases.includes("o") && r.chance(0.15))
    predicates.push(datesCompared(r));
  return predicates.length > 0 ? ` WHERE ${predicates.join(" AND ")}` : "";
}

/** A number for a column of `type` (an integer for integer columns), now and then NULL. */
function numberFor(r: Gen, type: ColumnType, min: number, max: number): string {
  if (r.chance(0.08)) return r.value(null, type);
  return r.value(type === "int" ? r.int(min, max) : r.int(min, max) + r.pick([0, 0.25, 0.5]), type);
}

/** A value of `column`'s kind for CASE and COALESCE branches. */
function valueLike(r: Gen, column: Column): string {
  if (NUMERIC.includes(column.type)) return numberFor(r, column.type, 0, 500);
  if (column.type === "char") return charValue(r, ["a", "zz", "", "a "]);
  if (TEXT_TYPES.includes(column.type))
    return r.value(r.pick(["a", "a ", "zz", "", null]), column.type);
  return r.value(null, column.type);
}

/**
 * Another column of `column`'s kind (text or number) or a value like it: where text columns of
 * different kinds meet, PostgreSQL's result type is the first one's (for CASE, the ELSE's).
 */
function otherOfKind(r: Gen, column: Column, columns: Column[]): string {
  const kind = TEXT_TYPES.includes(column.type) ? TEXT_TYPES : NUMERIC;
  const others = columns.filter((x) => x !== column && kind.includes(x.type));
  return others.length > 0 && r.chance(0.5) ? r.pick(others).ref : valueLike(r, column);
}

/** A constant in the SELECT list; a bound number is cast, since a bare `$n` is text. */
function constant(r: Gen): string {
  const roll = r.next();
  if (roll < 0.45) {
    const n = r.value(r.int(0, 999), "int");
    return isBound(n) ? `CAST(${n} AS integer)` : n;
  }
  if (roll < 0.85) return r.value(r.pick(["x", "label ", "", "o'brien"]), "text");
  return "NULL";
}

/** An expression over `columns` with literals and parameters in it. */
const EXPRESSIONS: ((r: Gen, columns: Column[], aliases: Alias[]) => string)[] = [
  (r, columns) => {
    const c = r.pick(ofTypes(columns, NUMERIC));
    return r.pick([
      () => `${c.ref} + ${numberFor(r, c.type, 1, 999)}`,
      () => `${numberFor(r, c.type, 1, 999)} - ${c.ref}`,
      () => `${c.ref} * ${numberFor(r, c.type, 2, 9)}`,
      () => `${c.ref} / ${r.value(r.int(2, 9), "divisor")}`,
      () => `${c.ref} % ${r.value(r.int(2, 9), "divisor")}`,
      // Decimals at numeric's scales: a quotient's 16 digits, round's places, a negation.
      () => (c.type === "int" ? `${c.ref} * -1` : `round(${c.ref} / 3.0, ${r.int(0, 3)})`),
      () => (c.type === "int" ? `-${c.ref}` : `${c.ref} / 7.00 + 0.5`),
    ])();
  },
  (r) => constant(r),
  (r, columns) => {
    const c = r.pick(ofTypes(columns, TEXT_TYPES));
    return r.pick([
      () => `length(${c.ref})`,
      () => `upper(${c.ref})`,
      () => `${c.ref} || ${r.value(r.pick(["|", " ", "x "]), "text")}`,
    ])();
  },
  (r, columns, aliases) => {
    const c = r.pick(columns.filter((x) => x.type !== "timestamp" && x.type !== "date"));
    const otherwise = r.chance(0.7) ? ` ELSE ${otherOfKind(r, c, columns)}` : "";
    return `CASE WHEN ${filterOn(r, r.pick(aliases))} THEN ${c.ref}${otherwise} END`;
  },
  (r, columns) => {
    const c = r.pick(columns.filter((x) => x.type !== "timestamp" && x.type !== "date"));
    return `COALESCE(${c.ref}, ${otherOfKind(r, c, columns)})`;
  },
  (r, columns) => {
    const dates = ofTypes(columns, ["date", "timestamp"]);
    return dates.length > 0
      ? dateExpression(r, r.pick(dates))
      : substringOf(r, r.pick(ofTypes(columns, TEXT_TYPES)).ref);
  },
  (r, columns) => substringOf(r, r.pick(ofTypes(columns, TEXT_TYPES)).ref),
  (r, columns) => {
    const c = r.pick(ofTypes(columns, NUMERIC));
    return `${c.ref} ${r.pick(["+", "-", "*"])} (${r.pick(["0.1 + 0.2", "1.1 - 0.1", "0.5 * 0.2", "2.50 - 1.25"])})`;
  },
];

/** A date or timestamp column through interval and day arithmetic, EXTRACT or date_trunc. */
function dateExpression(r: Gen, c: Column): string {
  const timestamp = c.type === "timestamp";
  return r.pick([
    () => `${c.ref} ${sign(r)} ${interval(r)}`,
    // Days first, then months: a day past the end of a month is its last day (Feb 29 in 2024).
    () =>
      `${timestamp ? `CAST(${c.ref} AS date)` : c.ref} + ${r.int(1, 5)} ${sign(r)} ${r.pick(["INTERVAL '1' MONTH", "INTERVAL '1' YEAR", "INTERVAL '1 year 2 months'", "INTERVAL '13' MONTH"])}`,
    // A date part of a shifted date: weeks, day of year and ISO years across the new year.
    () => datePart(r, `${c.ref} ${sign(r)} ${interval(r)}`, true),
    () => datePart(r, `${timestamp ? `CAST(${c.ref} AS date)` : c.ref} + ${r.int(1, 40)}`, false),
    () => `${timestamp ? `CAST(${c.ref} AS date)` : c.ref} ${sign(r)} ${integer(r, r.int(1, 400))}`,
    () => `${dateConstant(r)} - ${timestamp ? `CAST(${c.ref} AS date)` : c.ref}`,
    () => datePart(r, c.ref, timestamp),
    () => datePart(r, c.ref, timestamp),
    () => `date_trunc('${r.pick(timestamp ? [...TRUNC_UNITS, "hour"] : TRUNC_UNITS)}', ${c.ref})`,
  ])();
}

function selectItems(r: Gen, from: From): string[] {
  const columns = columnsOf(from.aliases);
  return Array.from({ length: r.int(2, 4) }, (_, i) => {
    if (r.chance(0.6)) {
      const c = r.pick(columns);
      return `${c.ref} AS ${c.alias}_${c.name}_${i}`;
    }
    return `${r.pick(EXPRESSIONS)(r, columns, from.aliases)} AS e${i}`;
  });
}

interface Made {
  sql: string;
  kind: string;
  ordered: boolean;
}

function selectQuery(r: Gen, from: From): Made {
  let sql = `SELECT ${selectItems(r, from).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2, from.conditions)}`;
  if (!from.outer && r.chance(0.35)) {
    sql += ` ORDER BY ${totalOrder(r, from.aliases).join(", ")} LIMIT ${r.int(1, 40)}`;
    if (r.chance(0.4)) sql += ` OFFSET ${r.int(1, 30)}`;
    return { sql, kind: "order-limit", ordered: true };
  }
  return { sql, kind: "select", ordered: false };
}

/**
 * The key columns of every joined table, in join order, order the rows totally: a table's key
 * is unique per row of the tables before it, and a NULL-extended row is alone in its group. A
 * text column may come first (text orders bytewise, NULLs last ascending and first descending).
 */
function totalOrder(r: Gen, aliases: Alias[]): string[] {
  const first = aliases[0]!;
  const keys = aliases.flatMap((a) => ORDER_KEY[a].map((k) => `${a}.${k}`));
  // DESC only on the first table's key, which is never NULL-extended.
  if (ORDER_KEY[first].length === 1 && r.chance(0.3)) keys[0] = `${keys[0]} DESC`;
  if (r.chance(0.3)) {
    const text = r.pick(ofTypes(columnsOf(aliases), TEXT_TYPES));
    keys.unshift(`${text.ref}${r.chance(0.4) ? " DESC" : ""}`);
  }
  return keys;
}

function aggregateList(r: Gen, columns: Column[], aliases: Alias[]): string[] {
  const numeric = ofTypes(columns, NUMERIC);
  const integers = ofTypes(columns, ["int"]);
  const any = () => r.pick(columns);
  const makers: (() => string)[] = [
    () => "COUNT(*)",
    () => `COUNT(${any().ref})`,
    () => `COUNT(DISTINCT ${any().ref})`,
    () => `SUM(${r.pick(numeric).ref})`,
    () => `MIN(${r.pick(numeric).ref})`,
    () => `MAX(${r.pick(numeric).ref})`,
    () => `AVG(${r.pick(numeric).ref})`,
    () => `MIN(${r.pick(ofTypes(columns, TEXT_TYPES)).ref})`,
    () => `MAX(${r.pick(columns.filter((c) => c.type !== "timestamp")).ref})`,
    () => `COUNT(*) + ${r.value(r.int(1, 999), "bigint")}`,
    () => `SUM(${r.pick(integers).ref} + ${r.value(r.int(1, 99), "int")})`,
    () =>
      `SUM(CASE WHEN ${filterOn(r, r.pick(aliases))} THEN ${r.value(r.int(1, 9), "int")} ELSE 0 END)`,
  ];
  return Array.from({ length: r.int(1, 4) }, (_, i) => `${r.pick(makers)()} AS agg${i + 1}`);
}

function havingClause(r: Gen, columns: Column[]): string {
  const integers = ofTypes(columns, ["int"]);
  const decimals = ofTypes(columns, ["decimal"]);
  return r.pick([
    () => `COUNT(*) > ${r.value(r.int(1, 5), "bigint")}`,
    () => `SUM(${r.pick(integers).ref}) >= ${r.value(r.int(5, 200), "bigint")}`,
    () => `COUNT(DISTINCT ${r.pick(columns).ref}) ${r.pick(["<", ">="])} ${r.value(2, "bigint")}`,
    () =>
      decimals.length > 0
        ? `MAX(${r.pick(decimals).ref}) < ${r.value(r.int(50, 400) + 0.5, "decimal")}`
        : `MIN(${r.pick(integers).ref}) = ${r.value(r.int(1, 5), "int")}`,
  ])();
}

/** A grouping key: a column, or now and then a date part, a truncated date or a prefix. */
function groupKey(r: Gen, columns: Column[]): string {
  const dates = ofTypes(columns, ["date", "timestamp"]);
  if (dates.length > 0 && r.chance(0.2)) {
    const c = r.pick(dates);
    return r.chance(0.6)
      ? `EXTRACT(${r.pick(["year", "quarter", "month", "dow"])} FROM ${c.ref})`
      : `date_trunc('${r.pick(TRUNC_UNITS)}', ${c.ref})`;
  }
  if (r.chance(0.1)) return substringOf(r, r.pick(ofTypes(columns, TEXT_TYPES)).ref);
  return r.pick(ofTypes(columns, [...TEXT_TYPES, "int"])).ref;
}

/**
 * GROUP BY the keys, or ROLLUP / CUBE / GROUPING SETS of them, or a plain key crossed with
 * ROLLUP or CUBE of the rest.
 */
function grouping(r: Gen, keys: string[]): { sql: string; kind: string } {
  const roll = r.next();
  if (roll < 0.55) return { sql: keys.join(", "), kind: "aggregate" };
  if (roll < 0.68) return { sql: `ROLLUP (${keys.join(", ")})`, kind: "rollup" };
  if (roll < 0.78) return { sql: `CUBE (${keys.join(", ")})`, kind: "cube" };
  if (roll < 0.9 || keys.length === 1) return { sql: groupingSets(r, keys), kind: "grouping-sets" };
  const [first, ...rest] = keys;
  return {
    sql: `${first}, ${r.pick(["ROLLUP", "CUBE"])} (${rest.join(", ")})`,
    kind: "rollup-mixed",
  };
}

/**
 * GROUPING SETS of all the keys (each key must be grouped somewhere to be selected) and some
 * subsets of them (`()` among them), now and then a nested ROLLUP.
 */
function groupingSets(r: Gen, keys: string[]): string {
  const subsets = Array.from({ length: r.int(1, 2) }, () => {
    const set = keys.filter(() => r.chance(0.5));
    return set.length === 1 && r.chance(0.5) ? set[0] : `(${set.join(", ")})`;
  });
  const sets = [`(${keys.join(", ")})`, ...subsets];
  if (keys.length > 1 && r.chance(0.25)) sets.push(`ROLLUP (${keys.slice(1).join(", ")})`);
  // GROUP BY DISTINCT drops a set the list makes twice.
  return `${r.chance(0.3) ? "DISTINCT " : ""}GROUPING SETS (${sets.join(", ")})`;
}

/**
 * Window functions over the groups: ranks of an aggregate, a window aggregate of one, row
 * numbers and offsets; ordering by the keys is total only when each group is one row (no
 * ROLLUP or CUBE).
 */
function groupWindows(r: Gen, keys: string[], plain: boolean): string[] {
  const order = keys.map((k) => `${k}${r.chance(0.3) ? " DESC" : ""}`).join(", ");
  const within = keys.length > 1 ? `PARTITION BY ${keys[0]} ` : "";
  const makers: (() => string)[] = [
    () =>
      `${r.pick(["rank", "dense_rank"])}() OVER (${within}ORDER BY COUNT(*)${r.chance(0.5) ? " DESC" : ""})`,
    () => `${r.pick(["SUM", "MAX"])}(COUNT(*)) OVER (${r.chance(0.5) ? within.trim() : ""})`,
  ];
  if (plain) {
    makers.push(
      () => `row_number() OVER (ORDER BY ${order})`,
      () => `${r.pick(["lag", "lead"])}(COUNT(*), 1, 0) OVER (ORDER BY ${order})`,
      () => `first_value(MIN(${keys[0]})) OVER (ORDER BY ${order})`,
    );
  }
  return Array.from({ length: r.int(1, 2) }, (_, i) => `${r.pick(makers)()} AS w${i + 1}`);
}

function aggregateQuery(r: Gen, from: From): Made {
  const columns = columnsOf(from.aliases);
  const keys = r.chance(0.2)
    ? []
    : [...new Set(Array.from({ length: r.int(1, 3) }, () => groupKey(r, columns)))];
  const group = grouping(r, keys);
  const windows = keys.length > 0 && r.chance(0.25);
  const select = [
    ...keys.map((k, i) => `${k} AS k${i + 1}`),
    ...(keys.length > 0 && group.kind !== "aggregate" && r.chance(0.5)
      ? [`GROUPING (${keys.join(", ")}) AS gk`]
      : []),
    ...(r.chance(0.25) ? [`${constant(r)} AS lit`] : []),
    ...aggregateList(r, columns, from.aliases),
    ...(windows ? groupWindows(r, keys, group.kind === "aggregate") : []),
  ];
  let sql = `SELECT ${select.join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2, from.conditions)}`;
  if (keys.length === 0) return { sql, kind: "global-aggregate", ordered: false };
  sql += ` GROUP BY ${group.sql}`;
  if (r.chance(0.35)) sql += ` HAVING ${havingClause(r, columns)}`;
  return { sql, kind: `${group.kind}${windows ? "-window" : ""}`, ordered: false };
}

/** The columns a window may partition by. */
const partitionable = (columns: Column[]) => ofTypes(columns, [...TEXT_TYPES, "int"]);

/** A ROWS frame: from the partition's start, around the row, before it, after it, to the end. */
const frame = (r: Gen) =>
  r.pick([
    "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
    `ROWS BETWEEN ${r.int(1, 3)} PRECEDING AND CURRENT ROW`,
    `ROWS BETWEEN ${r.int(0, 2)} PRECEDING AND ${r.int(1, 3)} FOLLOWING`,
    "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
    "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
    `ROWS BETWEEN ${r.int(1, 2)} FOLLOWING AND UNBOUNDED FOLLOWING`,
    `ROWS BETWEEN 1 FOLLOWING AND ${r.int(1, 3)} FOLLOWING`,
    `ROWS BETWEEN CURRENT ROW AND ${r.int(1, 2)} FOLLOWING`,
    `ROWS ${r.pick(["UNBOUNDED PRECEDING", "CURRENT ROW", "2 PRECEDING"])}`,
    `ROWS BETWEEN ${r.int(2, 3)} PRECEDING AND 1 PRECEDING`,
    "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING",
  ]);

/**
 * A frame over peers, for an order that may have ties: RANGE between the partition's ends and
 * the current row's peers, or GROUPS some peer groups away.
 */
const peerFrame = (r: Gen) =>
  r.pick([
    "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
    "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
    "RANGE CURRENT ROW",
    `GROUPS BETWEEN ${r.int(0, 2)} PRECEDING AND ${r.int(0, 2)} FOLLOWING`,
    `GROUPS BETWEEN UNBOUNDED PRECEDING AND ${r.int(1, 2)} PRECEDING`,
  ]) + (r.chance(0.3) ? ` EXCLUDE ${r.pick(["CURRENT ROW", "GROUP", "TIES", "NO OTHERS"])}` : "");

/**
 * A window function over the joined rows. Those that see the rows' order (row_number, ntile,
 * lag, lead, first/last/nth_value, ROWS frames) order totally by every table's key; rank,
 * dense_rank and aggregates over the default frame (up to the last peer) may order by one
 * column with ties.
 */
function windowFunction(r: Gen, from: From): string {
  const columns = columnsOf(from.aliases);
  const keys = r.chance(0.7) ? r.sample(partitionable(columns), r.int(1, 2)) : [];
  // Now and then by an expression, which PARTITION BY takes as ORDER BY does.
  const byKey = (k: Column) => (k.type === "int" && r.chance(0.3) ? `${k.ref} % 3` : k.ref);
  const partition = keys.length > 0 ? `PARTITION BY ${keys.map(byKey).join(", ")} ` : "";
  const total = () => `${partition}ORDER BY ${totalOrder(r, from.aliases).join(", ")}`;
  const loose = () => {
    const c = r.pick(columns);
    return `${partition}ORDER BY ${c.ref}${r.chance(0.3) ? " DESC" : ""}`;
  };
  const any = () => r.pick(columns).ref;
  const numeric = () => r.pick(ofTypes(columns, NUMERIC)).ref;
  return r.pick([
    () => `row_number() OVER (${total()})`,
    () => `${r.pick(["rank", "dense_rank", "percent_rank", "cume_dist"])}() OVER (${loose()})`,
    () => `ntile(${r.int(2, 5)}) OVER (${total()})`,
    () => {
      const c = r.pick(columns.filter((x) => x.type !== "date" && x.type !== "timestamp"));
      const offset = r.chance(0.6) ? `, ${r.value(r.int(1, 3), "count")}` : "";
      const fallback =
        offset && r.chance(0.5) ? `, ${NUMERIC.includes(c.type) ? "0" : "'none'"}` : "";
      return `${r.pick(["lag", "lead"])}(${c.ref}${offset}${fallback}) OVER (${total()})`;
    },
    () =>
      `${r.pick(["first_value", "last_value"])}(${any()}) OVER (${total()}${r.chance(0.5) ? ` ${frame(r)}` : ""})`,
    () =>
      `nth_value(${any()}, ${r.int(1, 3)}) OVER (${total()}${r.chance(0.5) ? ` ${frame(r)}` : ""})`,
    () =>
      `${r.pick(["COUNT(*)", `COUNT(${any()})`, `SUM(${numeric()})`, `AVG(${numeric()})`])} OVER (${partition.trim()})`,
    () =>
      `${r.pick(["COUNT(*)", `SUM(${numeric()})`, `MIN(${any()})`, `MAX(${numeric()})`])} OVER (${loose()})`,
    () =>
      `${r.pick(["COUNT(*)", `SUM(${numeric()})`, `MAX(${any()})`])} OVER (${loose()} ${peerFrame(r)})`,
    () => {
      // RANGE with an offset orders by one number and frames by its distance.
      const by = numeric();
      const edge = () =>
        r.pick(["CURRENT ROW", `${r.int(0, 20)} PRECEDING`, `${r.int(0, 20)} FOLLOWING`]);
      const [start, end] = r.chance(0.5)
        ? [`${r.int(1, 20)} PRECEDING`, edge()]
        : [edge(), `${r.int(1, 20)} FOLLOWING`];
      return `${r.pick(["COUNT(*)", `SUM(${numeric()})`, `MIN(${any()})`])} OVER (${partition}ORDER BY ${by}${r.chance(0.3) ? " DESC" : ""} RANGE BETWEEN ${start} AND ${end})`;
    },
    () =>
      `${r.pick(["COUNT(*)", `SUM(${numeric()})`, `AVG(${numeric()})`, `MIN(${numeric()})`, `MAX(${any()})`])} OVER (${total()} ${frame(r)})`,
  ])();
}

function windowQuery(r: Gen, from: From): Made {
  const columns = columnsOf(from.aliases);
  const select = [
    ...r.sample(columns, r.int(1, 2)).map((c, i) => `${c.ref} AS ${c.alias}_${c.name}_${i}`),
    ...Array.from({ length: r.int(1, 3) }, (_, i) => `${windowFunction(r, from)} AS w${i + 1}`),
  ];
  let sql = `SELECT ${select.join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2, from.conditions)}`;
  if (!from.outer && r.chance(0.3)) {
    sql += ` ORDER BY ${totalOrder(r, from.aliases).join(", ")} LIMIT ${r.int(1, 40)}`;
    return { sql, kind: "window-limit", ordered: true };
  }
  return { sql, kind: "window", ordered: false };
}

function distinctQuery(r: Gen, from: From): Made {
  const picked = r.sample(
    columnsOf(from.aliases).filter((c) => c.type !== "timestamp"),
    r.int(1, 2),
  );
  return {
    sql: `SELECT DISTINCT ${picked.map((c) => `${c.ref} AS ${c.alias}_${c.name}`).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2, from.conditions)}`,
    kind: "distinct",
    ordered: false,
  };
}

/**
 * Two text columns of different kinds, stacked in either order. PostgreSQL gives the result the
 * first branch's type: after a char(n) branch the others' trailing blanks are insignificant.
 */
const TEXT_UNIONS: [Alias, string, Alias, string][] = [
  ["u", "tag", "o", "note"],
  ["p", "code", "p", "label"],
  ["n", "n_name", "c", "nation"],
  ["o", "note", "p", "label"],
];

/** `column IN (SELECT …)` pairs of text columns of different kinds. */
const TEXT_IN: [Alias, string, Alias, string][] = [
  ["u", "tag", "p", "code"],
  ["c", "nation", "n", "n_name"],
  ["o", "note", "p", "label"],
  ["p", "label", "u", "tag"],
];

/** Statements built around one table pair, exercising the operators after the join. */
const SHAPED: ((r: Gen) => Made)[] = [
  (r) => ({
    kind: "union-all",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.name AS label FROM ${from("u")}${whereClause(r, ["u"], 1)} ` +
      `UNION ALL SELECT p.id AS id, p.category AS label FROM ${from("p")}${whereClause(r, ["p"], 1)}` +
      (r.chance(0.5)
        ? ` UNION ALL SELECT o.user_id AS id, o.status AS label FROM ${from("o")}${whereClause(r, ["o"], 1)}`
        : ""),
  }),
  (r) => {
    const pair = r.pick(TEXT_UNIONS);
    const [a, x, b, y] = r.chance(0.5) ? pair : [pair[2], pair[3], pair[0], pair[1]];
    return {
      kind: "union-all-text",
      ordered: false,
      sql:
        `SELECT ${a}.${x} AS v, ${r.value(1, "int")} + 0 AS side FROM ${from(a)}${whereClause(r, [a], 1)} ` +
        `UNION ALL SELECT ${b}.${y} AS v, 2 AS side FROM ${from(b)}${whereClause(r, [b], 1)}`,
    };
  },
  (r) => ({
    kind: "subquery-from",
    ordered: false,
    sql:
      "SELECT t.country AS country, COUNT(*) AS n, SUM(t.total) AS spent FROM " +
      `(SELECT u.country AS country, o.total AS total FROM ${from("u")} JOIN ${from("o")} ON u.id = o.user_id${whereClause(r, ["u", "o"], 2)}) t ` +
      `GROUP BY t.country${r.chance(0.4) ? ` HAVING COUNT(*) > ${r.value(3, "bigint")}` : ""}`,
  }),
  (r) => ({
    kind: "subquery-from",
    ordered: false,
    sql:
      `SELECT t.name AS name, t.n AS n FROM (SELECT p.name AS name, COUNT(o.id) AS n FROM ${from("p")} ` +
      `LEFT JOIN ${from("o")} ON o.product_id = p.id${whereClause(r, ["p"], 1)} GROUP BY p.name) t WHERE t.n ${r.pick([">", "<", "="])} ${r.value(r.int(0, 12), "bigint")}`,
  }),
  (r) => ({
    kind: "cte",
    ordered: false,
    sql:
      `WITH spend AS (SELECT o.user_id AS user_id, SUM(o.total) AS spent, COUNT(*) AS n FROM ${from("o")}` +
      `${whereClause(r, ["o"], 1)} GROUP BY o.user_id) ` +
      `SELECT u.name AS name, u.country AS country, s.spent AS spent, s.n AS n FROM ${from("u")} ${r.pick(["JOIN", "LEFT JOIN"])} spend s ON u.id = s.user_id${whereClause(r, ["u"], 2)}`,
  }),
  (r) => ({
    kind: "cte",
    ordered: false,
    sql:
      `WITH eu AS (SELECT c.code AS code FROM ${from("c")} WHERE c.region = ${r.value(r.pick(["Europe", "Americas", "Asia"]), "varchar")}) ` +
      `SELECT u.id AS id, u.name AS name FROM ${from("u")} JOIN eu ON u.country = eu.code` +
      whereClause(r, ["u"], 1),
  }),
  (r) => ({
    kind: "in-subquery",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.name AS name FROM ${from("u")} WHERE u.id IN ` +
      `(SELECT o.user_id FROM ${from("o")}${whereClause(r, ["o"], 2)})${r.chance(0.5) ? ` AND ${filterOn(r, "u")}` : ""}`,
  }),
  (r) => {
    const [a, x, b, y] = r.pick(TEXT_IN);
    const not = r.chance(0.4) ? "NOT " : "";
    // The subquery's NULLs make NOT IN match nothing, unless they are filtered out.
    const inner = r.chance(0.6) ? ` WHERE ${b}.${y} IS NOT NULL` : whereClause(r, [b], 1);
    return {
      kind: "in-subquery-text",
      ordered: false,
      sql: `SELECT ${a}.${x} AS v FROM ${from(a)} WHERE ${a}.${x} ${not}IN (SELECT ${b}.${y} FROM ${from(b)}${inner})`,
    };
  },
  (r) => {
    // orders.user_id holds NULLs: without the IS NOT NULL filter NOT IN matches nothing.
    const conditions = [
      ...(r.chance(0.7) ? ["o.user_id IS NOT NULL"] : []),
      ...(r.chance(0.5) ? [`o.qty > ${r.value(r.int(1, 4), "int")}`] : []),
    ];
    const where = conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : "";
    return {
      kind: "not-in-subquery",
      ordered: false,
      sql: `SELECT u.id AS id, u.country AS country FROM ${from("u")} WHERE u.id NOT IN (SELECT o.user_id FROM ${from("o")}${where})`,
    };
  },
  (r) => ({
    kind: "in-subquery",
    ordered: false,
    sql:
      `SELECT o.id AS id, o.total AS total FROM ${from("o")} WHERE o.product_id IN ` +
      `(SELECT p.id FROM ${from("p")}${whereClause(r, ["p"], 1)})${r.chance(0.5) ? ` AND ${filterOn(r, "o")}` : ""}`,
  }),
  (r) => ({
    kind: "exists-subquery",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.name AS name FROM ${from("u")} WHERE ${r.chance(0.5) ? "NOT " : ""}EXISTS ` +
      `(SELECT 1 FROM ${from("o")} WHERE o.user_id = u.id AND o.status = ${r.value(r.pick(["paid", "PAID"]), "varchar")})`,
  }),
  (r) => ({
    kind: "exists-subquery-text",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.tag AS tag FROM ${from("u")} WHERE ${r.chance(0.5) ? "NOT " : ""}EXISTS ` +
      `(SELECT 1 FROM ${from("o")} WHERE o.note = u.tag${r.chance(0.5) ? ` AND o.qty > ${r.value(r.int(1, 4), "int")}` : ""})`,
  }),
  (r) => ({
    kind: "empty-side",
    ordered: false,
    sql: `SELECT COUNT(*) AS n, SUM(r.amount) AS s, MAX(r.reason) AS m FROM ${from("r")}${whereClause(r, ["r"], 1)}`,
  }),
  (r) => ({
    kind: "aggregate-limit",
    ordered: true,
    sql:
      "SELECT o.qty AS qty, COUNT(*) AS n, COUNT(DISTINCT o.user_id) AS users, SUM(o.total) AS total " +
      `FROM ${from("o")} JOIN ${from("u")} ON u.id = o.user_id${whereClause(r, ["u", "o"], 1)} GROUP BY o.qty ORDER BY o.qty${r.chance(0.5) ? " DESC" : ""} LIMIT ${r.int(1, 4)}`,
  }),
];

/** A filter of `alias`'s table for a second instance of it, named `as`. */
const filterAs = (r: Gen, alias: Alias, as: string) =>
  filterOn(r, alias).replace(new RegExp(`\\b${alias}\\.`, "g"), `${as}.`);

/**
 * A derived table `(SELECT … FROM rest) AS name (a, b, …)` naming its columns in an alias list,
 * or half the time in the subquery's own select list.
 */
function derived(r: Gen, name: string, columns: [string, string][]) {
  const aliases = r.chance(0.5);
  const items = columns.map(([n, e]) => (aliases ? e : `${e} AS ${n}`)).join(", ");
  const list = aliases ? ` (${columns.map(([n]) => n).join(", ")})` : "";
  return { aliases, sql: (rest: string) => `(SELECT ${items} FROM ${rest}) AS ${name}${list}` };
}

/**
 * Branches of set operations, in groups whose values overlap (so INTERSECT and EXCEPT keep and
 * drop some rows): a small number and a text (or char) column of one table each; the number
 * is sometimes a numeric date part, which PostgreSQL unifies with the integers.
 */
const SET_BRANCHES: [Alias, string, string][][] = [
  [
    ["u", "u.age % 4", "u.tag"],
    ["o", "o.qty - 1", "o.note"],
    ["p", "p.id % 4", "p.code"],
    ["p", "p.id % 3", "p.label"],
  ],
  [
    ["n", "n.n_regionkey", "n.n_name"],
    ["c", "length(c.region) % 5", "c.nation"],
    ["o", "o.qty % 5", "upper(o.note)"],
  ],
  [
    ["u", "EXTRACT(quarter FROM u.signup)", "u.country"],
    ["c", "length(c.region) % 4", "c.code"],
    ["u", "u.age % 4", "upper(u.country)"],
  ],
];

/** Set operators; INTERSECT binds tighter than UNION and EXCEPT, which go left to right. */
const SET_OPERATORS = [
  "UNION",
  "UNION DISTINCT",
  "UNION ALL",
  "INTERSECT",
  "INTERSECT ALL",
  "EXCEPT",
  "EXCEPT ALL",
];

/** Two to four branches joined by set operators, the first naming the columns `k`, `v`. */
function setOperation(r: Gen, names = true): { sql: string; operators: string[] } {
  const group = r.pick(SET_BRANCHES);
  const operators: string[] = [];
  const branches = Array.from({ length: r.int(2, 4) }, (_, i) => {
    const [alias, k, v] = r.pick(group);
    if (i > 0) operators.push(r.pick(SET_OPERATORS));
    const named = i === 0 && names;
    return `SELECT ${k}${named ? " AS k" : ""}, ${v}${named ? " AS v" : ""} FROM ${from(alias)}${whereClause(r, [alias], 1)}`;
  });
  const sql = branches.reduce((acc, branch, i) => `${acc} ${operators[i - 1]} ${branch}`);
  return { sql, operators };
}

/** Correlated EXISTS conditions beside the equality: comparisons of other columns, both sides. */
const ORDER_PAIRS = [
  "o2.id <> o.id",
  "o2.status <> o.status",
  "o2.created_at < o.created_at",
  "o2.total > o.total",
  "o2.product_id <> o.product_id",
  "o2.note <> o.note",
  "o2.qty >= o.qty",
  "o2.created_at < o.created_at - INTERVAL '30' DAY",
];

/**
 * An aggregate over a user's orders, for a scalar subquery: a user without orders gets the
 * aggregate over no rows (COUNT is 0, `COUNT(*) + 1` is 1), or NULL when it groups.
 */
const ORDER_AGGREGATES = [
  "COUNT(*)",
  "COUNT(*) + 1",
  "COALESCE(SUM(o.qty), 0) * 2",
  "COUNT(o.note) - COUNT(*)",
  "COUNT(o.total)",
  "SUM(o.total)",
  "SUM(o.qty)",
  "MAX(o.created_at)",
  "MIN(o.qty)",
  "AVG(o.qty)",
  "MAX(o.note)",
];

/** A set operation, now and then ordered by every column and limited. */
function setOperationStatement(r: Gen): Made {
  const { sql, operators } = setOperation(r);
  const all = operators.every((o) => o === "UNION ALL");
  if (r.chance(0.4)) {
    // Every column is an ORDER BY key: equal rows are the same row.
    const order = r.pick(["k, v", "v DESC, k", "1, 2", "2, 1 DESC"]);
    return {
      kind: `set-op${all ? "-all" : ""}-order`,
      ordered: true,
      sql: `${sql} ORDER BY ${order} LIMIT ${r.int(1, 30)}`,
    };
  }
  return { kind: `set-op${all ? "-all" : ""}`, ordered: false, sql };
}

/**
 * Statements around the newer constructs: set operations (with INTERSECT's precedence),
 * derived tables and CTEs with column alias lists, scalar subqueries and EXISTS correlated by
 * equalities (and other comparisons), window functions in derived tables.
 */
/**
 * Decimal aggregates and arithmetic, grouped: exact sums, averages and quotients at numeric's
 * scale, round() to some places, a modulo and a product.
 */
function decimalArithmetic(r: Gen): Made {
  const [alias, column, group] = r.pick([
    ["o", "o.total", "o.status"],
    ["p", "p.price", "p.category"],
    ["r", "r.amount", "r.reason"],
  ] as const);
  const items = [
    `SUM(${column}) AS s`,
    `AVG(${column}) AS a`,
    `SUM(${column}) / ${r.value(r.int(2, 9), "divisor")} AS q`,
    `round(AVG(${column}), ${r.int(0, 4)}) AS rounded`,
    `MAX(${column} % 3) AS m`,
    `MIN(${column} * ${column}) AS sq`,
    `SUM(${column} / 7.0) AS parts`,
  ];
  return {
    kind: "decimal-arithmetic",
    ordered: false,
    sql: `SELECT ${group} AS g, ${r.sample(items, r.int(2, 4)).join(", ")} FROM ${from(alias)}${whereClause(r, [alias], 1)} GROUP BY ${group}`,
  };
}

const CONSTRUCTS: ((r: Gen) => Made)[] = [
  setOperationStatement,
  setOperationStatement,
  decimalArithmetic,
  (r) => {
    const { sql } = setOperation(r, false);
    return {
      kind: "set-op-cte-aliases",
      ordered: false,
      sql:
        `WITH s (k, v) AS (${sql}) SELECT s.v AS v, COUNT(*) AS n, SUM(s.k) AS total, MIN(s.k) AS least ` +
        `FROM s GROUP BY s.v${r.chance(0.3) ? ` HAVING COUNT(*) > ${r.value(1, "bigint")}` : ""}`,
    };
  },
  (r) => {
    // Dates of either table; a date added to a number of days is still a date.
    const branch = (i: number) => {
      const [d, rest] = r.pick([
        () => ["u.signup", `${from("u")}${whereClause(r, ["u"], 1)}`],
        () => ["CAST(o.created_at AS date)", `${from("o")}${whereClause(r, ["o"], 1)}`],
        () => [`u.signup + ${r.int(1, 30)}`, `${from("u")}${whereClause(r, ["u"], 1)}`],
      ])();
      return `SELECT ${d}${i === 0 ? " AS d" : ""} FROM ${rest}`;
    };
    const sql = Array.from({ length: r.int(2, 3) }, (_, i) => branch(i)).reduce(
      (acc, b) => `${acc} ${r.pick(SET_OPERATORS)} ${b}`,
    );
    return { kind: "set-op-dates", ordered: false, sql };
  },
  (r) => {
    const table = derived(r, "d", [
      ["g", r.pick(["u.country", "u.tag", "u.age"])],
      ["m", datePart(r, "u.signup", false)],
      ["x", r.pick(["u.id", "u.signup - DATE '2024-01-01'", "length(u.name)"])],
    ]);
    return {
      kind: `derived${table.aliases ? "-aliases" : ""}`,
      ordered: false,
      sql:
        `SELECT d.g AS g, d.m AS m, COUNT(*) AS n, MAX(d.x) AS x FROM ${table.sql(`${from("u")}${whereClause(r, ["u"], 2)}`)} ` +
        `GROUP BY ${r.pick(["d.g, d.m", "ROLLUP (d.g, d.m)", "CUBE (d.g, d.m)", "d.g, ROLLUP (d.m)", "GROUPING SETS ((d.g), (d.m), ())"])}`,
    };
  },
  (r) => ({
    kind: "cte-aliases",
    ordered: false,
    sql:
      `WITH spend (uid, spent, n, last) AS (SELECT o.user_id, SUM(o.total), COUNT(*), MAX(o.created_at) FROM ${from("o")}` +
      `${whereClause(r, ["o"], 1)} GROUP BY o.user_id) ` +
      `SELECT u.id AS id, u.name AS name, s.spent AS spent, s.n AS n, s.last AS last FROM ${from("u")} ` +
      `${r.pick(["JOIN", "LEFT JOIN"])} spend s ON s.uid = u.id${whereClause(r, ["u"], 1)}` +
      (r.chance(0.4) ? ` AND s.n >= ${r.value(r.int(1, 4), "bigint")}` : ""),
  }),
  (r) => {
    const extra = r.chance(0.4) ? ` AND ${filterOn(r, "o")}` : "";
    const outer = r.chance(0.3)
      ? `${from("u")} JOIN ${from("c")} ON u.country = c.code`
      : from("u");
    return {
      kind: "scalar-select",
      ordered: false,
      sql:
        `SELECT u.id AS id, u.name AS name, (SELECT ${r.pick(ORDER_AGGREGATES)} FROM ${from("o")} ` +
        `WHERE o.user_id = u.id${extra}${r.chance(0.2) ? " GROUP BY o.user_id" : ""}) AS v FROM ${outer}${whereClause(r, ["u"], 1)}`,
    };
  },
  (r) => ({
    kind: "scalar-text-key",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.tag AS tag, (SELECT ${r.pick(["COUNT(*)", "MAX(o.id)", "SUM(o.qty)"])} FROM ${from("o")} WHERE o.note = u.tag) AS v ` +
      `FROM ${from("u")}${whereClause(r, ["u"], 1)}`,
  }),
  (r) => ({
    kind: "scalar-on",
    ordered: false,
    sql:
      `SELECT u.id AS id, o.id AS oid, o.total AS total FROM ${from("u")} ${r.pick(["JOIN", "LEFT JOIN"])} ${from("o")} ` +
      `ON o.user_id = u.id AND o.${r.pick(["total >= (SELECT MAX(o2.total)", "qty > (SELECT MIN(o2.qty)", "created_at <= (SELECT MIN(o2.created_at)"])} ` +
      `FROM ${from("o", "o2")} WHERE o2.user_id = u.id)${whereClause(r, ["u"], 1)}`,
  }),
  (r) => ({
    kind: "scalar-select-grouped",
    ordered: false,
    sql:
      `SELECT u.country AS country, COUNT(*) AS n, (SELECT ${r.pick(["COUNT(*)", "MIN(c.region)", "COUNT(c.nation) + 1"])} FROM ${from("c")} ` +
      `WHERE c.code = u.country) AS k FROM ${from("u")}${whereClause(r, ["u"], 1)} GROUP BY u.country`,
  }),
  (r) => ({
    kind: "exists-or",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.age AS age FROM ${from("u")} WHERE ${filterOn(r, "u")} OR ${r.chance(0.4) ? "NOT " : ""}EXISTS ` +
      `(SELECT 1 FROM ${from("o")} WHERE o.user_id = u.id AND ${r.pick(["o.created_at < u.signup", "o.qty > u.age / 10", "o.note = u.tag"])})`,
  }),
  (r) => ({
    kind: "exists-inequality",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.age AS age FROM ${from("u")} WHERE ${r.chance(0.4) ? "NOT " : ""}EXISTS (SELECT 1 FROM ${from("o")} ` +
      `WHERE ${r.pick(["o.qty * 15 > u.age", "o.created_at < u.signup - INTERVAL '6' MONTH", "o.total < u.age - 17"])}${r.chance(0.5) ? ` AND ${filterOn(r, "o")}` : ""})` +
      whereClause(r, ["u"], 1).replace(" WHERE ", " AND "),
  }),
  (r) => ({
    kind: "window-distinct",
    ordered: false,
    sql:
      `SELECT DISTINCT u.country AS country, ${r.pick(["COUNT(*)", "MAX(u.age)", "SUM(u.age)", "MIN(u.signup)"])} OVER (PARTITION BY u.country) AS w, ` +
      `dense_rank() OVER (ORDER BY u.country) AS r FROM ${from("u")}${whereClause(r, ["u"], 1)}`,
  }),
  (r) => ({
    kind: "scalar-select-unique",
    ordered: false,
    sql:
      `SELECT o.id AS id, (SELECT p.name FROM ${from("p")} WHERE p.id = o.product_id) AS product, ` +
      `(SELECT n.n_name FROM ${from("n")} WHERE n.n_nationkey = o.qty${r.chance(0.5) ? " + 10" : ""}) AS nation ` +
      `FROM ${from("o")}${whereClause(r, ["o"], 2)}`,
  }),
  (r) => {
    // AVG of integers only: a decimal's average is a double, which may miss a value it equals.
    const agg = r.pick(["MAX(o2.total)", "MIN(o2.total)", "AVG(o2.qty)", "MIN(o2.created_at)"]);
    const column = agg.includes("created_at")
      ? "o.created_at"
      : agg.includes("qty")
        ? "o.qty"
        : "o.total";
    const keys = r.pick([
      "o2.user_id = o.user_id",
      "o2.user_id = o.user_id AND o2.status = o.status",
      "o2.product_id = o.product_id",
    ]);
    const extra = r.chance(0.4) ? ` AND ${filterAs(r, "o", "o2")}` : "";
    return {
      kind: "scalar-where",
      ordered: false,
      sql:
        `SELECT o.id AS id, o.user_id AS user_id, ${column} AS v FROM ${from("o")} WHERE ${column} ` +
        `${r.pick([">", ">=", "<", "="])} (SELECT ${agg} FROM ${from("o", "o2")} WHERE ${keys}${extra})` +
        (r.chance(0.4) ? ` AND ${filterOn(r, "o")}` : ""),
    };
  },
  (r) => ({
    kind: "scalar-count",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.country AS country FROM ${from("u")} WHERE (SELECT COUNT(*) FROM ${from("o")} ` +
      `WHERE o.user_id = u.id${r.chance(0.5) ? ` AND ${filterOn(r, "o")}` : ""}) ` +
      `${r.pick(["= 0", "= 0", "> 2", `>= ${r.value(r.int(1, 5), "bigint")}`])}${whereClause(r, ["u"], 1).replace(" WHERE ", " AND ")}`,
  }),
  (r) => {
    const [column, agg] = r.pick([
      ["age", r.pick(["AVG", "MAX", "MIN"])],
      ["signup", r.pick(["MAX", "MIN"])],
    ]);
    const keys = r.pick([
      "u2.country = u.country",
      "u2.tag = u.tag",
      "u2.country = u.country AND u2.tag = u.tag",
    ]);
    return {
      kind: "scalar-where-users",
      ordered: false,
      sql:
        `SELECT u.id AS id, u.country AS country, u.${column} AS v FROM ${from("u")} WHERE u.${column} ` +
        `${r.pick([">", ">=", "<"])} (SELECT ${agg}(u2.${column}) FROM ${from("u", "u2")} WHERE ${keys}` +
        `${r.chance(0.3) ? ` AND ${filterAs(r, "u", "u2")}` : ""})`,
    };
  },
  (r) => ({
    kind: "scalar-having",
    ordered: false,
    sql:
      `SELECT u.country AS country, COUNT(*) AS n, AVG(u.age) AS age FROM ${from("u")}${whereClause(r, ["u"], 1)} ` +
      `GROUP BY u.country HAVING ${r.pick(["AVG(u.age)", "MAX(u.age)", "COUNT(*)"])} ${r.pick(["<", ">="])} ` +
      `(SELECT ${r.pick(["AVG(u2.age)", "COUNT(*)", "MAX(u2.age) - 10"])} FROM ${from("u", "u2")} WHERE u2.country = u.country AND ${filterAs(r, "u", "u2")})`,
  }),
  (r) => {
    const others = r.sample(ORDER_PAIRS, r.int(1, 2));
    const keys = r.pick([
      "o2.user_id = o.user_id",
      "o2.product_id = o.product_id",
      "o2.user_id = o.user_id AND o2.status = o.status",
    ]);
    const inner = [keys, ...others, ...(r.chance(0.4) ? [filterAs(r, "o", "o2")] : [])];
    return {
      kind: "exists-correlated",
      ordered: false,
      sql:
        `SELECT o.id AS id, o.user_id AS user_id, o.status AS status FROM ${from("o")} WHERE ` +
        `${r.chance(0.4) ? "NOT " : ""}EXISTS (SELECT 1 FROM ${from("o", "o2")} WHERE ${r.sample(inner, inner.length).join(" AND ")})` +
        (r.chance(0.4) ? ` AND ${filterOn(r, "o")}` : ""),
    };
  },
  (r) => ({
    kind: "exists-correlated-join",
    ordered: false,
    sql:
      `SELECT u.id AS id, o.id AS oid FROM ${from("u")} JOIN ${from("o")} ON u.id = o.user_id WHERE ` +
      `${r.chance(0.4) ? "NOT " : ""}EXISTS (SELECT 1 FROM ${from("o", "o2")} WHERE o2.user_id = u.id AND ` +
      `${r.pick(ORDER_PAIRS)})${whereClause(r, ["u", "o"], 1).replace(" WHERE ", " AND ")}`,
  }),
  (r) => ({
    kind: "exists-correlated-users",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.signup AS signup FROM ${from("u")} WHERE ${r.chance(0.4) ? "NOT " : ""}EXISTS ` +
      `(SELECT 1 FROM ${r.pick([
        () =>
          `${from("u", "u2")} WHERE u2.country = u.country AND u2.${r.pick(["signup < u.signup", "age > u.age", "id <> u.id", "tag <> u.tag", "signup < u.signup - INTERVAL '1' MONTH"])}`,
        () => `${from("u", "u2")} WHERE u2.tag = u.tag AND u2.id <> u.id`,
        () =>
          `${from("o")} WHERE o.user_id = u.id AND o.created_at ${r.pick(["<", ">="])} u.signup + ${interval(r)}`,
      ])()})${whereClause(r, ["u"], 1).replace(" WHERE ", " AND ")}`,
  }),
  (r) => {
    const fn = r.pick([
      "row_number() OVER (PARTITION BY o.user_id ORDER BY o.total DESC, o.id)",
      "rank() OVER (PARTITION BY o.user_id ORDER BY o.total DESC)",
      "dense_rank() OVER (PARTITION BY o.status ORDER BY o.qty)",
      "row_number() OVER (PARTITION BY o.product_id ORDER BY o.created_at, o.id)",
    ]);
    const table = derived(r, "w", [
      ["id", "o.id"],
      ["g", "o.user_id"],
      ["v", "o.total"],
      ["rn", fn],
    ]);
    return {
      kind: `window-top-n${table.aliases ? "-aliases" : ""}`,
      ordered: false,
      sql:
        `SELECT w.id AS id, w.g AS g, w.v AS v, w.rn AS rn FROM ${table.sql(`${from("o")}${whereClause(r, ["o"], 1)}`)} ` +
        `WHERE w.rn <= ${r.value(r.int(1, 3), "bigint")}`,
    };
  },
  (r) => {
    // A filter on the derived table's other columns applies after the window, not before it.
    const fn = r.pick([
      "row_number() OVER (ORDER BY o.id)",
      "COUNT(*) OVER (PARTITION BY o.user_id)",
      "SUM(o.qty) OVER (ORDER BY o.created_at, o.id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
      "lag(o.status) OVER (PARTITION BY o.product_id ORDER BY o.id)",
    ]);
    const limit = r.chance(0.3) ? ` ORDER BY o.id LIMIT ${r.int(5, 60)}` : "";
    return {
      kind: `window-derived-filter${limit ? "-limit" : ""}`,
      ordered: false,
      sql:
        `SELECT w.id AS id, w.w AS w FROM (SELECT ${Object.keys(COLUMNS.o)
          .map((c) => `o.${c} AS ${c}`)
          .join(", ")}, ${fn} AS w ` +
        `FROM ${from("o")}${limit}) w WHERE ${filterAs(r, "o", "w")}`,
    };
  },
  (r) => ({
    kind: "window-join-top-n",
    ordered: true,
    sql:
      `WITH ranked (country, name, spent, pos) AS (SELECT u.country, u.name, SUM(o.total), ` +
      `rank() OVER (PARTITION BY u.country ORDER BY SUM(o.total) DESC) FROM ${from("u")} JOIN ${from("o")} ON u.id = o.user_id` +
      `${whereClause(r, ["u", "o"], 1)} GROUP BY u.country, u.name) ` +
      `SELECT r.country AS country, r.name AS name, r.spent AS spent, r.pos AS pos FROM ranked r WHERE r.pos <= ${r.int(1, 3)} ORDER BY r.country, r.pos, r.name`,
  }),
];

/**
 * Values bound while a statement is made. Each becomes a `⟨k⟩` token; `number` turns the tokens
 * into `$1`, `$2`, … in the order they appear in the text, or in a shuffled order. Now and then a
 * value takes an earlier parameter of the same context instead, so one `$n` stands in two places.
 */
interface Bindings {
  value(value: Param, context: Context): string;
  number(template: string, shuffle: boolean): { template: string; params: Param[] };
}

/** `rate`: the chance that a value is bound rather than written as a literal. */
function bindings(random: Random, rate: number): Bindings {
  const values: Param[] = [];
  const contexts: Context[] = [];
  return {
    value(value, context) {
      if (!random.chance(rate)) return literal(value);
      const earlier = contexts.flatMap((c, token) => (c === context ? [token] : []));
      if (earlier.length > 0 && random.chance(0.2)) return `⟨${random.pick(earlier)}⟩`;
      contexts.push(context);
      return `⟨${values.push(value) - 1}⟩`;
    },
    number(template, shuffle) {
      const appearing = [...new Set([...template.matchAll(PARAM_TOKEN)].map((m) => Number(m[1])))];
      const positions = appearing.map((_, i) => i + 1);
      const numbers = shuffle ? random.sample(positions, positions.length) : positions;
      const params: Param[] = [];
      appearing.forEach((token, i) => {
        params[numbers[i]! - 1] = values[token]!;
      });
      const renumbered = template.replace(
        PARAM_TOKEN,
        (_, token: string) => `$${numbers[appearing.indexOf(Number(token))]}`,
      );
      return { template: renumbered, params };
    },
  };
}

function literal(value: Param): string {
  if (value === null) return "NULL";
  return typeof value === "number" ? String(value) : q(value);
}

function makeStatement(r: Gen): Made {
  const roll = r.next();
  if (roll < 0.15) return r.pick(SHAPED)(r);
  if (roll < 0.45) return r.pick(CONSTRUCTS)(r);
  // One table now and then: its aggregates, ROLLUPs and windows may be sent to its source.
  const from = r.chance(0.3)
    ? fromList(r, r.pick(LIST_SHAPES))
    : fromClause(r, r.chance(0.15) ? [r.pick(["u", "o", "p", "n"] as const)] : r.pick(SHAPES));
  const body =
    roll < 0.63
      ? selectQuery
      : roll < 0.82
        ? aggregateQuery
        : roll < 0.94
          ? windowQuery
          : distinctQuery;
  const made = body(r, from);
  return { ...made, kind: `${from.kind}/${made.kind}` };
}

/** `count` statements from `seed`. */
export function generateQueries(seed: number, count: number): GeneratedQuery[] {
  const random = seededRandom(seed);
  const out: GeneratedQuery[] = [];
  for (let index = 0; index < count; index++) {
    // Half the statements bind nothing, a quarter some values, a quarter every value.
    const bound = bindings(random, random.pick([0, 0, 0.5, 1]));
    const r: Gen = { ...random, value: bound.value };
    const made = makeStatement(r);
    const shuffle = random.chance(0.5);
    const { template, params } = bound.number(made.sql, shuffle);
    const kind =
      params.length === 0 ? made.kind : `${made.kind}+params${shuffle ? "-shuffled" : ""}`;
    const sql = renderTables(template, (table) => table);
    out.push({ index, kind, template, sql, params, ordered: made.ordered });
  }
  return out;
}
