/**
 * A seeded generator of SELECT statements over the differential tables: joins of 2–4 tables
 * (inner, left, right and full), filters (text equality that differs only in case, LIKE, NULL checks, ranges,
 * IN lists, OR and NOT), aggregates (COUNT, COUNT(DISTINCT), SUM, MIN, MAX, AVG, HAVING),
 * ORDER BY with a total order and LIMIT/OFFSET, DISTINCT, UNION ALL, subqueries in FROM, CTEs and
 * IN / NOT IN / EXISTS subqueries. Every statement is plain SQL that PostgreSQL runs as written,
 * so PostgreSQL holding all tables is the reference.
 */
import { type Random, seededRandom } from "./random.ts";

export interface GeneratedQuery {
  /** Position in the sequence; with the seed it reproduces the query. */
  index: number;
  /** The shape, for grouping failures: e.g. `join3-left/aggregate`. */
  kind: string;
  sql: string;
  /** Values bound to `$1`, `$2`, … in `sql`. */
  params: string[];
  /** The statement's ORDER BY is a total order: rows must also arrive in that order. */
  ordered: boolean;
}

type ColType = "int" | "text" | "decimal" | "date" | "timestamp";
type Alias = "u" | "o" | "p" | "c" | "r";

const TABLE: Record<Alias, string> = {
  u: "users",
  o: "orders",
  p: "products",
  c: "countries",
  r: "refunds",
};

const COLUMNS: Record<Alias, Record<string, ColType>> = {
  u: { id: "int", name: "text", country: "text", age: "int", signup: "date" },
  o: {
    id: "int",
    user_id: "int",
    product_id: "int",
    qty: "int",
    total: "decimal",
    status: "text",
    created_at: "timestamp",
  },
  p: { id: "int", name: "text", category: "text", price: "decimal" },
  c: { code: "text", region: "text" },
  r: { id: "int", order_id: "int", amount: "decimal", reason: "text" },
};

/** Columns that order each table's rows totally (a key, or all columns for `countries`). */
const ORDER_KEY: Record<Alias, string[]> = {
  u: ["id"],
  o: ["id"],
  p: ["id"],
  c: ["region", "code"],
  r: ["id"],
};

/** Join edges: which aliases connect and on what. */
const EDGES: { a: Alias; b: Alias; on: string }[] = [
  { a: "u", b: "o", on: "u.id = o.user_id" },
  { a: "o", b: "p", on: "o.product_id = p.id" },
  { a: "u", b: "c", on: "u.country = c.code" },
  { a: "o", b: "r", on: "o.id = r.order_id" },
];

/** Join orders the generator draws from; each later alias joins an earlier one. */
const SHAPES: Alias[][] = [
  ["u", "o"],
  ["o", "u"],
  ["o", "p"],
  ["u", "c"],
  ["c", "u"],
  ["o", "r"],
  ["u", "o", "p"],
  ["c", "u", "o"],
  ["p", "o", "u"],
  ["c", "u", "o", "p"],
  ["u", "o", "p", "c"],
  ["u", "o", "r", "p"],
];

const q = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** The random source, and how a text value enters the statement: a literal or a bound `$n`. */
interface Gen extends Random {
  lit(value: string): string;
}

/** Filters per alias: each one a predicate PostgreSQL and the engine must agree on. */
const FILTERS: Record<Alias, ((r: Gen) => string)[]> = {
  u: [
    (r) => `u.country = ${r.lit(r.pick(["US", "us", "DE", "FR", "JP", "ZZ"]))}`,
    () => "u.country IS NULL",
    () => "u.country IS NOT NULL",
    (r) => `u.age > ${r.int(20, 70)}`,
    (r) => `u.age BETWEEN ${r.int(18, 40)} AND ${r.int(40, 80)}`,
    () => "u.age IS NULL",
    (r) => `u.name = ${r.lit(r.pick(["alice", "Alice", "o'brien", "BOB", "nobody"]))}`,
    (r) => `u.name <> ${r.lit(r.pick(["alice", "bob"]))}`,
    (r) => `u.name LIKE ${r.lit(r.pick(["a%", "A%", "%o%", "_ob"]))}`,
    (r) => `u.signup >= ${r.lit(`2024-${String(r.int(1, 12)).padStart(2, "0")}-01`)}`,
    (r) => `u.id < ${r.int(10, 300)}`,
    (r) =>
      `u.country IN (${r
        .sample(["US", "us", "DE", "BR", "XX"], r.int(1, 3))
        .map((v) => r.lit(v))
        .join(", ")})`,
    (r) => `(u.age < ${r.int(20, 40)} OR u.country = ${r.lit(r.pick(["FR", "us"]))})`,
    (r) => `NOT (u.country = ${r.lit(r.pick(["US", "DE"]))})`,
  ],
  o: [
    (r) => `o.status = ${r.lit(r.pick(["paid", "PAID", "shipped", "Shipped"]))}`,
    (r) => `o.status <> ${r.lit(r.pick(["cancelled", "paid"]))}`,
    (r) => `o.total > ${r.int(0, 450)}`,
    (r) => `o.total <= ${r.int(10, 400)}.5`,
    () => "o.total IS NULL",
    () => "o.user_id IS NULL",
    () => "o.product_id IS NOT NULL",
    (r) => `o.qty IN (${r.sample([1, 2, 3, 4, 5], r.int(1, 3)).join(", ")})`,
    (r) => `(o.qty >= ${r.int(2, 4)} AND o.total < ${r.int(50, 400)})`,
    (r) => `o.user_id BETWEEN ${r.int(1, 50)} AND ${r.int(50, 320)}`,
    (r) =>
      `o.status IN (${r
        .sample(["paid", "PAID", "shipped", "cancelled"], 2)
        .map((v) => r.lit(v))
        .join(", ")})`,
  ],
  p: [
    (r) => `p.category = ${r.lit(r.pick(["books", "Books", "games", "TOOLS"]))}`,
    () => "p.category IS NULL",
    (r) => `p.price < ${r.int(10, 190)}`,
    (r) => `p.name LIKE ${r.lit(r.pick(["%book", "green%", "Green%", "%a%"]))}`,
    (r) => `p.id <= ${r.int(5, 85)}`,
  ],
  c: [
    (r) => `c.region = ${r.lit(r.pick(["Europe", "Americas", "europe"]))}`,
    (r) => `c.code = ${r.lit(r.pick(["us", "US", "XX"]))}`,
    () => "c.code IS NOT NULL",
  ],
  r: [() => "r.reason IS NULL", (r) => `r.amount > ${r.int(1, 10)}`],
};

const NUMERIC: ColType[] = ["int", "decimal"];

interface Column {
  ref: string;
  alias: Alias;
  name: string;
  type: ColType;
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

interface From {
  sql: string;
  aliases: Alias[];
  /** Aliases reached through a LEFT JOIN: their columns may be NULL-extended. */
  leftJoined: Alias[];
  kind: string;
  /** A RIGHT or FULL join: any table's rows may be NULL-extended. */
  outer: boolean;
}

function fromClause(r: Gen, shape: Alias[]): From {
  let sql = `${TABLE[shape[0]!]} ${shape[0]}`;
  const joined: Alias[] = [shape[0]!];
  const leftJoined: Alias[] = [];
  const kinds = new Set<string>();
  for (const alias of shape.slice(1)) {
    const edge = EDGES.find(
      (e) => (e.a === alias && joined.includes(e.b)) || (e.b === alias && joined.includes(e.a)),
    );
    if (!edge) throw new Error(`no join edge for ${alias} after ${joined.join(",")}`);
    const roll = r.next();
    const join =
      roll < 0.58 ? "JOIN" : roll < 0.88 ? "LEFT JOIN" : roll < 0.94 ? "RIGHT JOIN" : "FULL JOIN";
    if (join !== "JOIN") {
      leftJoined.push(alias);
      kinds.add(join.split(" ")[0]!.toLowerCase());
    }
    sql += ` ${join} ${TABLE[alias]} ${alias} ON ${edge.on}`;
    joined.push(alias);
  }
  const kind = `join${shape.length}${[...kinds].map((k) => `-${k}`).join("")}`;
  return { sql, aliases: joined, leftJoined, kind, outer: kinds.has("right") || kinds.has("full") };
}

function whereClause(r: Gen, aliases: Alias[], max = 2): string {
  const count = r.int(0, max);
  const predicates = Array.from({ length: count }, () => r.pick(FILTERS[r.pick(aliases)])(r));
  return predicates.length > 0 ? ` WHERE ${predicates.join(" AND ")}` : "";
}

const as = (c: Column) => `${c.ref} AS ${c.alias}_${c.name}`;

function selectQuery(r: Gen, from: From): { sql: string; kind: string; ordered: boolean } {
  const picked = r.sample(columnsOf(from.aliases), r.int(2, 4));
  let sql = `SELECT ${picked.map(as).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases)}`;
  if (!from.outer && r.chance(0.35)) {
    // The key columns of every joined table, in join order, order the rows totally: a table's key
    // is unique per row of the tables before it, and a NULL-extended row is alone in its group.
    const keys = from.aliases.flatMap((a) => ORDER_KEY[a].map((k) => `${a}.${k}`));
    const desc = r.chance(0.3) ? " DESC" : "";
    const firstKey = from.aliases[0]!;
    // DESC only on the first table's key, which is never NULL-extended.
    const order = keys.map((k, i) =>
      i === 0 && ORDER_KEY[firstKey].length === 1 ? `${k}${desc}` : k,
    );
    sql += ` ORDER BY ${order.join(", ")} LIMIT ${r.int(1, 40)}`;
    if (r.chance(0.4)) sql += ` OFFSET ${r.int(1, 30)}`;
    return { sql, kind: "order-limit", ordered: true };
  }
  return { sql, kind: "select", ordered: false };
}

function aggregateList(r: Gen, columns: Column[]): string[] {
  const numeric = columns.filter((c) => NUMERIC.includes(c.type));
  const any = () => r.pick(columns);
  const makers: (() => string)[] = [
    () => "COUNT(*)",
    () => `COUNT(${any().ref})`,
    () => `COUNT(DISTINCT ${any().ref})`,
    () => `SUM(${r.pick(numeric).ref})`,
    () => `MIN(${r.pick(numeric).ref})`,
    () => `MAX(${r.pick(numeric).ref})`,
    () => `AVG(${r.pick(numeric).ref})`,
    () => `MIN(${r.pick(columns.filter((c) => c.type === "text")).ref})`,
    () => `MAX(${r.pick(columns.filter((c) => c.type !== "timestamp")).ref})`,
  ];
  return Array.from({ length: r.int(1, 4) }, (_, i) => `${r.pick(makers)()} AS agg${i + 1}`);
}

function aggregateQuery(r: Gen, from: From): { sql: string; kind: string; ordered: boolean } {
  const columns = columnsOf(from.aliases);
  const groupable = columns.filter((c) => c.type === "text" || c.type === "int");
  const keys = r.chance(0.2) ? [] : r.sample(groupable, r.int(1, 2));
  const aggregates = aggregateList(r, columns);
  const select = [...keys.map((k, i) => `${k.ref} AS k${i + 1}`), ...aggregates];
  let sql = `SELECT ${select.join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2)}`;
  if (keys.length === 0) return { sql, kind: "global-aggregate", ordered: false };
  sql += ` GROUP BY ${keys.map((k) => k.ref).join(", ")}`;
  if (r.chance(0.3)) sql += ` HAVING COUNT(*) > ${r.int(1, 5)}`;
  return { sql, kind: "aggregate", ordered: false };
}

function distinctQuery(r: Gen, from: From): { sql: string; kind: string; ordered: boolean } {
  const picked = r.sample(
    columnsOf(from.aliases).filter((c) => c.type !== "timestamp"),
    r.int(1, 2),
  );
  return {
    sql: `SELECT DISTINCT ${picked.map(as).join(", ")} FROM ${from.sql}${whereClause(r, from.aliases, 2)}`,
    kind: "distinct",
    ordered: false,
  };
}

/** Statements built around one table pair, exercising the operators after the join. */
const SHAPED: ((r: Gen) => { sql: string; kind: string; ordered: boolean })[] = [
  (r) => ({
    kind: "union-all",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.name AS label FROM users u${whereClause(r, ["u"], 1)} ` +
      `UNION ALL SELECT p.id AS id, p.category AS label FROM products p${whereClause(r, ["p"], 1)}` +
      (r.chance(0.5)
        ? ` UNION ALL SELECT o.user_id AS id, o.status AS label FROM orders o${whereClause(r, ["o"], 1)}`
        : ""),
  }),
  (r) => ({
    kind: "subquery-from",
    ordered: false,
    sql:
      "SELECT t.country AS country, COUNT(*) AS n, SUM(t.total) AS spent FROM " +
      `(SELECT u.country AS country, o.total AS total FROM users u JOIN orders o ON u.id = o.user_id${whereClause(r, ["u", "o"], 2)}) t ` +
      `GROUP BY t.country${r.chance(0.4) ? " HAVING COUNT(*) > 3" : ""}`,
  }),
  (r) => ({
    kind: "subquery-from",
    ordered: false,
    sql:
      "SELECT t.name AS name, t.n AS n FROM (SELECT p.name AS name, COUNT(o.id) AS n FROM products p " +
      `LEFT JOIN orders o ON o.product_id = p.id${whereClause(r, ["p"], 1)} GROUP BY p.name) t WHERE t.n ${r.pick([">", "<", "="])} ${r.int(0, 12)}`,
  }),
  (r) => ({
    kind: "cte",
    ordered: false,
    sql:
      "WITH spend AS (SELECT o.user_id AS user_id, SUM(o.total) AS spent, COUNT(*) AS n FROM orders o" +
      `${whereClause(r, ["o"], 1)} GROUP BY o.user_id) ` +
      `SELECT u.name AS name, u.country AS country, s.spent AS spent, s.n AS n FROM users u ${r.pick(["JOIN", "LEFT JOIN"])} spend s ON u.id = s.user_id${whereClause(r, ["u"], 2)}`,
  }),
  (r) => ({
    kind: "cte",
    ordered: false,
    sql:
      `WITH eu AS (SELECT c.code AS code FROM countries c WHERE c.region = ${r.lit(r.pick(["Europe", "Americas", "Asia"]))}) ` +
      "SELECT u.id AS id, u.name AS name FROM users u JOIN eu ON u.country = eu.code" +
      whereClause(r, ["u"], 1),
  }),
  (r) => ({
    kind: "in-subquery",
    ordered: false,
    sql:
      "SELECT u.id AS id, u.name AS name FROM users u WHERE u.id IN " +
      `(SELECT o.user_id FROM orders o${whereClause(r, ["o"], 2)})${r.chance(0.5) ? ` AND ${r.pick(FILTERS.u)(r)}` : ""}`,
  }),
  (r) => {
    // orders.user_id holds NULLs: without the IS NOT NULL filter NOT IN matches nothing.
    const conditions = [
      ...(r.chance(0.7) ? ["o.user_id IS NOT NULL"] : []),
      ...(r.chance(0.5) ? [`o.qty > ${r.int(1, 4)}`] : []),
    ];
    const where = conditions.length > 0 ? ` WHERE ${conditions.join(" AND ")}` : "";
    return {
      kind: "not-in-subquery",
      ordered: false,
      sql: `SELECT u.id AS id, u.country AS country FROM users u WHERE u.id NOT IN (SELECT o.user_id FROM orders o${where})`,
    };
  },
  (r) => ({
    kind: "in-subquery",
    ordered: false,
    sql:
      "SELECT o.id AS id, o.total AS total FROM orders o WHERE o.product_id IN " +
      `(SELECT p.id FROM products p${whereClause(r, ["p"], 1)})${r.chance(0.5) ? ` AND ${r.pick(FILTERS.o)(r)}` : ""}`,
  }),
  (r) => ({
    kind: "exists-subquery",
    ordered: false,
    sql:
      `SELECT u.id AS id, u.name AS name FROM users u WHERE ${r.chance(0.5) ? "NOT " : ""}EXISTS ` +
      `(SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.status = ${r.lit(r.pick(["paid", "PAID"]))})`,
  }),
  (r) => ({
    kind: "empty-side",
    ordered: false,
    sql: `SELECT COUNT(*) AS n, SUM(r.amount) AS s, MAX(r.reason) AS m FROM refunds r${whereClause(r, ["r"], 1)}`,
  }),
  (r) => ({
    kind: "aggregate-limit",
    ordered: true,
    sql:
      "SELECT o.qty AS qty, COUNT(*) AS n, COUNT(DISTINCT o.user_id) AS users, SUM(o.total) AS total " +
      `FROM orders o JOIN users u ON u.id = o.user_id${whereClause(r, ["u", "o"], 1)} GROUP BY o.qty ORDER BY o.qty${r.chance(0.5) ? " DESC" : ""} LIMIT ${r.int(1, 4)}`,
  }),
];

/** `count` statements from `seed`. */
export function generateQueries(seed: number, count: number): GeneratedQuery[] {
  const random = seededRandom(seed);
  const out: GeneratedQuery[] = [];
  for (let index = 0; index < count; index++) {
    // A quarter of the statements bind their text values as parameters instead of literals.
    const params: string[] = [];
    const bind = random.chance(0.25);
    const r: Gen = {
      ...random,
      lit: (value) => (bind ? `$${params.push(value)}` : q(value)),
    };
    const roll = r.next();
    let made: { sql: string; kind: string; ordered: boolean };
    if (roll < 0.25) {
      made = r.pick(SHAPED)(r);
    } else {
      const from = fromClause(r, r.pick(SHAPES));
      const body = roll < 0.55 ? selectQuery : roll < 0.9 ? aggregateQuery : distinctQuery;
      made = body(r, from);
      made.kind = `${from.kind}/${made.kind}`;
    }
    if (params.length > 0) made.kind += "+params";
    out.push({ index, ...made, params });
  }
  return out;
}
