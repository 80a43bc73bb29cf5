/**
 * A seeded generator of SELECT statements over the differential tables: joins of 2–4 tables
 * (inner, left, right and full; on keys and on text columns of different kinds, with extra ON
 * conditions), filters (text equality that differs only in case or trailing blanks, LIKE, NULL
 * checks and NULL operands, ranges, IN lists, CASE, OR and NOT), literals, arithmetic, CASE,
 * COALESCE and text functions in the SELECT list, aggregates (COUNT, COUNT(DISTINCT), SUM, MIN,
 * MAX, AVG, HAVING), ORDER BY with a total order and LIMIT/OFFSET, DISTINCT, UNION ALL,
 * subqueries in FROM, CTEs and IN / NOT IN / EXISTS subqueries.
 *
 * Values are literals or bound parameters (`$1`, `$2`, … numbered in text order or shuffled, a
 * value sometimes bound once and used twice). A `char(n)` value is text without its padding, as
 * docs/sql-join.md defines it; the reference reads such columns through views of that shape.
 *
 * Every statement is plain SQL that PostgreSQL runs as written, so PostgreSQL holding all tables
 * is the reference. Table names are tokens (`tableRef`) that `renderTables` replaces with the
 * names a layout uses.
 */
import { type ColumnType, TABLE_SCHEMAS } from "./fixtures.ts";
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

const from = (alias: Alias) => `${tableRef(TABLE[alias])} ${alias}`;

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
type Context = ColumnType | "bigint" | "pattern" | "charPattern" | "divisor";

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
  ],
  c: [
    (r) => `c.region = ${r.value(r.pick(["Europe", "Americas", "europe"]), "varchar")}`,
    (r) => `c.code = ${r.value(r.pick(["us", "US", "XX"]), "varchar")}`,
    () => "c.code IS NOT NULL",
    (r) =>
      `c.nation = ${r.value(r.pick(["FRANCE", "FRANCE ", "france", "UNITED STATES"]), "varchar")}`,
    (r) => `c.nation LIKE ${r.value(r.pick(["FR%", "% ", " %"]), "pattern")}`,
    () => "c.nation IS NULL",
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
    // An extra ON condition on either side: under an outer join it must not filter that side.
    const extra = r.chance(0.25) ? ` AND ${filterOn(r, r.pick([alias, ...joined]))}` : "";
    sql += ` ${join} ${from(alias)} ON ${edge.on}${extra}`;
    joined.push(alias);
  }
  const kind = `join${shape.length}${[...kinds].map((k) => `-${k}`).join("")}`;
  return { sql, aliases: joined, kind, outer: kinds.has("right") || kinds.has("full") };
}

const filterOn = (r: Gen, alias: Alias) => r.pick(FILTERS[alias])(r);

/** Two text columns of (usually) different tables and kinds compared with each other. */
function textComparison(r: Gen, aliases: Alias[]): string {
  const [a, b] = r.sample(ofTypes(columnsOf(aliases), TEXT_TYPES), 2);
  return `${a!.ref} ${r.pick(["=", "=", "<>", "<", ">="])} ${b!.ref}`;
}

function whereClause(r: Gen, aliases: Alias[], max = 2): string {
  const predicates = Array.from({ length: r.int(0, max) }, () => filterOn(r, r.pick(aliases)));
  if (aliases.length > 1 && r.chance(0.2)) predicates.push(textComparison(r, aliases));
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
      () => (c.type === "int" ? `${c.ref} / ${r.value(r.int(2, 9), "divisor")}` : `${c.ref} * -1`),
      () => (c.type === "int" ? `${c.ref} % ${r.value(r.int(2, 9), "divisor")}` : `-${c.ref}`),
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
];

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
  let sql = `SELECT ${selectItems(r, from).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases)}`;
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

function aggregateQuery(r: Gen, from: From): Made {
  const columns = columnsOf(from.aliases);
  const groupable = ofTypes(columns, [...TEXT_TYPES, "int"]);
  const keys = r.chance(0.2) ? [] : r.sample(groupable, r.int(1, 2));
  const select = [
    ...keys.map((k, i) => `${k.ref} AS k${i + 1}`),
    ...(r.chance(0.25) ? [`${constant(r)} AS lit`] : []),
    ...aggregateList(r, columns, from.aliases),
  ];
  let sql = `SELECT ${select.join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2)}`;
  if (keys.length === 0) return { sql, kind: "global-aggregate", ordered: false };
  sql += ` GROUP BY ${keys.map((k) => k.ref).join(", ")}`;
  if (r.chance(0.35)) sql += ` HAVING ${havingClause(r, columns)}`;
  return { sql, kind: "aggregate", ordered: false };
}

function distinctQuery(r: Gen, from: From): Made {
  const picked = r.sample(
    columnsOf(from.aliases).filter((c) => c.type !== "timestamp"),
    r.int(1, 2),
  );
  return {
    sql: `SELECT DISTINCT ${picked.map((c) => `${c.ref} AS ${c.alias}_${c.name}`).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2)}`,
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
  if (roll < 0.25) return r.pick(SHAPED)(r);
  const from = fromClause(r, r.pick(SHAPES));
  const body = roll < 0.55 ? selectQuery : roll < 0.9 ? aggregateQuery : distinctQuery;
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
