/**
 * A deterministic TPC-H-shaped data set: the eight tables with the specification's columns, types,
 * key relationships and value distributions, closely enough that each of the 22 queries with its
 * validation parameters has rows to return at scale factors 0.01 and 0.1. Every row is drawn
 * from its own seeded generator, so a table can be read in any order, again, or without holding
 * it in memory (lineitem at SF 1 is six million rows). Decimals are strings ('123.45') and dates 'YYYY-MM-DD',
 * so every database receives exactly the same values.
 */
import { type Random, seededRandom } from "../random.ts";

export type TpchTableName =
  | "region"
  | "nation"
  | "supplier"
  | "part"
  | "partsupp"
  | "customer"
  | "orders"
  | "lineitem";

export const TPCH_TABLE_NAMES: readonly TpchTableName[] = [
  "region",
  "nation",
  "supplier",
  "part",
  "partsupp",
  "customer",
  "orders",
  "lineitem",
];

export type ColumnType = "integer" | "char" | "varchar" | "decimal" | "date";
export type Dialect = "postgres" | "mysql" | "duckdb";
export type Cell = string | number;

export interface TpchColumn {
  name: string;
  type: ColumnType;
  /** The `n` of `char(n)` and `varchar(n)`. */
  length?: number;
}

export interface TpchTable {
  name: TpchTableName;
  columns: TpchColumn[];
  primaryKey: string[];
  /** Exact, except lineitem's: 1–7 lines per order, so about 4 times the orders. */
  rowCount: number;
  /** The rows, generated afresh on each call. */
  rows(): Iterable<Cell[]>;
}

const integer = (name: string): TpchColumn => ({ name, type: "integer" });
const decimal = (name: string): TpchColumn => ({ name, type: "decimal" });
const date = (name: string): TpchColumn => ({ name, type: "date" });
const char = (name: string, length: number): TpchColumn => ({ name, type: "char", length });
const varchar = (name: string, length: number): TpchColumn => ({ name, type: "varchar", length });

const COLUMNS: Record<TpchTableName, TpchColumn[]> = {
  region: [integer("r_regionkey"), char("r_name", 25), varchar("r_comment", 152)],
  nation: [
    integer("n_nationkey"),
    char("n_name", 25),
    integer("n_regionkey"),
    varchar("n_comment", 152),
  ],
  supplier: [
    integer("s_suppkey"),
    char("s_name", 25),
    varchar("s_address", 40),
    integer("s_nationkey"),
    char("s_phone", 15),
    decimal("s_acctbal"),
    varchar("s_comment", 101),
  ],
  part: [
    integer("p_partkey"),
    varchar("p_name", 55),
    char("p_mfgr", 25),
    char("p_brand", 10),
    varchar("p_type", 25),
    integer("p_size"),
    char("p_container", 10),
    decimal("p_retailprice"),
    varchar("p_comment", 23),
  ],
  partsupp: [
    integer("ps_partkey"),
    integer("ps_suppkey"),
    integer("ps_availqty"),
    decimal("ps_supplycost"),
    varchar("ps_comment", 199),
  ],
  customer: [
    integer("c_custkey"),
    varchar("c_name", 25),
    varchar("c_address", 40),
    integer("c_nationkey"),
    char("c_phone", 15),
    decimal("c_acctbal"),
    char("c_mktsegment", 10),
    varchar("c_comment", 117),
  ],
  orders: [
    integer("o_orderkey"),
    integer("o_custkey"),
    char("o_orderstatus", 1),
    decimal("o_totalprice"),
    date("o_orderdate"),
    char("o_orderpriority", 15),
    char("o_clerk", 15),
    integer("o_shippriority"),
    varchar("o_comment", 79),
  ],
  lineitem: [
    integer("l_orderkey"),
    integer("l_partkey"),
    integer("l_suppkey"),
    integer("l_linenumber"),
    decimal("l_quantity"),
    decimal("l_extendedprice"),
    decimal("l_discount"),
    decimal("l_tax"),
    char("l_returnflag", 1),
    char("l_linestatus", 1),
    date("l_shipdate"),
    date("l_commitdate"),
    date("l_receiptdate"),
    char("l_shipinstruct", 25),
    char("l_shipmode", 10),
    varchar("l_comment", 44),
  ],
};

const PRIMARY_KEYS: Record<TpchTableName, string[]> = {
  region: ["r_regionkey"],
  nation: ["n_nationkey"],
  supplier: ["s_suppkey"],
  part: ["p_partkey"],
  partsupp: ["ps_partkey", "ps_suppkey"],
  customer: ["c_custkey"],
  orders: ["o_orderkey"],
  lineitem: ["l_orderkey", "l_linenumber"],
};

const NATIVE: Record<Dialect, Record<ColumnType, (length?: number) => string>> = {
  postgres: {
    integer: () => "integer",
    char: (n) => `char(${n})`,
    varchar: (n) => `varchar(${n})`,
    decimal: () => "decimal(15,2)",
    date: () => "date",
  },
  mysql: {
    integer: () => "INT",
    char: (n) => `CHAR(${n})`,
    varchar: (n) => `VARCHAR(${n})`,
    decimal: () => "DECIMAL(15,2)",
    date: () => "DATE",
  },
  // DuckDB's CHAR(n) is another name for VARCHAR; the values carry no padding anyway.
  duckdb: {
    integer: () => "INTEGER",
    char: () => "VARCHAR",
    varchar: () => "VARCHAR",
    decimal: () => "DECIMAL(15,2)",
    date: () => "DATE",
  },
};

export function columnSql(column: TpchColumn, dialect: Dialect): string {
  return NATIVE[dialect][column.type](column.length);
}

export function createTableSql(table: TpchTable, dialect: Dialect): string {
  const columns = table.columns.map((c) => `${c.name} ${columnSql(c, dialect)} NOT NULL`);
  columns.push(`PRIMARY KEY (${table.primaryKey.join(", ")})`);
  return `CREATE TABLE ${table.name} (${columns.join(", ")})`;
}

// --- Value domains (TPC-H specification, clause 4.2) ---

const REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"];

/** Nation name and region key, in nation key order. */
const NATIONS: [string, number][] = [
  ["ALGERIA", 0],
  ["ARGENTINA", 1],
  ["BRAZIL", 1],
  ["CANADA", 1],
  ["EGYPT", 4],
  ["ETHIOPIA", 0],
  ["FRANCE", 3],
  ["GERMANY", 3],
  ["INDIA", 2],
  ["INDONESIA", 2],
  ["IRAN", 4],
  ["IRAQ", 4],
  ["JAPAN", 2],
  ["JORDAN", 4],
  ["KENYA", 0],
  ["MOROCCO", 0],
  ["MOZAMBIQUE", 0],
  ["PERU", 1],
  ["CHINA", 2],
  ["ROMANIA", 3],
  ["SAUDI ARABIA", 4],
  ["VIETNAM", 2],
  ["RUSSIA", 3],
  ["UNITED KINGDOM", 3],
  ["UNITED STATES", 1],
];

const COLOURS = (
  "almond antique aquamarine azure beige bisque black blanched blue blush brown burlywood " +
  "burnished chartreuse chiffon chocolate coral cornflower cornsilk cream cyan dark deep dim " +
  "dodger drab firebrick floral forest frosted gainsboro ghost goldenrod green grey honeydew hot " +
  "indian ivory khaki lace lavender lawn lemon light lime linen magenta maroon medium metallic " +
  "midnight mint misty moccasin navajo navy olive orange orchid pale papaya peach peru pink plum " +
  "powder puff purple red rose rosy royal saddle salmon sandy seashell sienna sky slate smoke " +
  "snow spring steel tan thistle tomato turquoise violet wheat white yellow"
).split(" ");

const TYPE_SIZE = ["STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO"];
const TYPE_FINISH = ["ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED"];
const TYPE_METAL = ["TIN", "NICKEL", "BRASS", "STEEL", "COPPER"];
const CONTAINER_SIZE = ["SM", "LG", "MED", "JUMBO", "WRAP"];
const CONTAINER_KIND = ["CASE", "BOX", "BAG", "JAR", "PKG", "PACK", "CAN", "DRUM"];
const SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD"];
const PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
const INSTRUCTIONS = ["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"];
const SHIP_MODES = ["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"];

/** The comment grammar's vocabulary (clause 4.2.2.10), "special" and "requests" among it. */
const NOUNS = (
  "foxes ideas theodolites pinto beans instructions dependencies excuses platelets asymptotes " +
  "courts dolphins multipliers sauternes warthogs frets dinos attainments somas Tiresias " +
  "patterns forges braids hockey players frays warhorses dugouts notornis epitaphs pearls tithes " +
  "waters orbits gifts sheaves depths sentiments decoys realms pains grouches escapades packages " +
  "requests accounts deposits"
).split(" ");
const VERBS = (
  "sleep wake are cajole haggle nag use boost affix detect integrate maintain nod was lose " +
  "sublate solve thrash promise engage hinder print x-ray breach eat grow impress mold poach " +
  "serve run dazzle snooze doze unwind kindle play hang believe doubt"
).split(" ");
const ADJECTIVES = (
  "special pending unusual express furious sly careful blithe quick fluffy slow quiet ruthless " +
  "thin close dogged daring brave stealthy permanent enticing idle busy regular final ironic " +
  "even bold silent"
).split(" ");
const ADVERBS = (
  "sometimes always never furiously slyly carefully blithely quickly fluffily slowly quietly " +
  "ruthlessly thinly closely doggedly daringly bravely stealthily permanently enticingly idly " +
  "busily regularly finally ironically evenly boldly silently"
).split(" ");

// --- Dates ---

const DAY_MS = 86_400_000;
const dayOf = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;
const START_DAY = dayOf("1992-01-01");
/** The last order date: the end date (1998-12-31) less 151 days. */
const LAST_ORDER_DAY = dayOf("1998-08-02");
/** Lines received by this day may be returned; lines shipped after it are still open. */
const CURRENT_DAY = dayOf("1995-06-17");

const isoDates = new Map<number, string>();
function isoDate(day: number): string {
  let text = isoDates.get(day);
  if (text === undefined) {
    text = new Date(day * DAY_MS).toISOString().slice(0, 10);
    isoDates.set(day, text);
  }
  return text;
}

// --- Small helpers ---

/** Cents as a decimal string: -5 → '-0.05'. */
function money(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

const padded = (n: number, width: number) => String(n).padStart(width, "0");

/** One generator per row: a row depends only on the seed, its table and its index. */
function rowRandom(seed: number, table: number, index: number): Random {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(table + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) ^ index;
  return seededRandom(Math.imul(h ^ (h >>> 16), 0x165667b1) >>> 0);
}

function sentence(random: Random): string {
  return [
    random.pick(ADJECTIVES),
    random.pick(NOUNS),
    random.pick(VERBS),
    random.pick(ADVERBS),
  ].join(" ");
}

/** Text of `min`..`max` characters cut at a word, from the comment grammar's sentences. */
function comment(random: Random, min: number, max: number): string {
  const target = random.int(min, max);
  let text = "";
  while (text.length < target) text = text ? `${text} ${sentence(random)}` : sentence(random);
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(" ", max);
  return cut >= min ? text.slice(0, cut) : text.slice(0, max);
}

/** Random alphanumeric text of 10..40 characters, as the spec's v-strings. */
function address(random: Random): string {
  const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.";
  const length = random.int(10, 40);
  let text = "";
  for (let i = 0; i < length; i++) text += chars[random.int(0, chars.length - 1)];
  return text;
}

/** `CC-LLL-LLL-LLLL`, where the country code is the nation key + 10. */
function phone(random: Random, nationKey: number): string {
  return `${nationKey + 10}-${random.int(100, 999)}-${random.int(100, 999)}-${random.int(1000, 9999)}`;
}

/** The spec's retail price formula, in cents. */
export function retailPriceCents(partKey: number): number {
  return 90_000 + (Math.floor(partKey / 10) % 20_001) + 100 * (partKey % 1000);
}

/** The `i`-th (0..3) supplier of a part (clause 4.2.3, PS_SUPPKEY). */
function partSupplier(partKey: number, i: number, suppliers: number): number {
  const step = Math.floor(suppliers / 4) + Math.floor((partKey - 1) / suppliers);
  return ((partKey + i * step) % suppliers) + 1;
}

/** Sparse order keys as in the spec: 8 keys used in each run of 32. */
const orderKey = (index: number) => Math.floor(index / 8) * 32 + (index % 8) + 1;

// --- Scale ---

export interface TpchScale {
  suppliers: number;
  parts: number;
  customers: number;
  orders: number;
  clerks: number;
}

export function tpchScale(sf: number): TpchScale {
  const scaled = (base: number) => Math.max(1, Math.round(base * sf));
  return {
    suppliers: scaled(10_000),
    parts: scaled(200_000),
    customers: scaled(150_000),
    orders: scaled(1_500_000),
    clerks: scaled(1_000),
  };
}

// --- Tables ---

const TABLE_NUMBER: Record<TpchTableName, number> = {
  region: 0,
  nation: 1,
  supplier: 2,
  part: 3,
  partsupp: 4,
  customer: 5,
  orders: 6,
  lineitem: 7,
};

interface Context {
  seed: number;
  scale: TpchScale;
}

const random = (ctx: Context, table: TpchTableName, index: number) =>
  rowRandom(ctx.seed, TABLE_NUMBER[table], index);

function* regionRows(ctx: Context): Iterable<Cell[]> {
  for (const [key, name] of REGIONS.entries()) {
    yield [key, name, comment(random(ctx, "region", key), 31, 115)];
  }
}

function* nationRows(ctx: Context): Iterable<Cell[]> {
  for (const [key, [name, region]] of NATIONS.entries()) {
    yield [key, name, region, comment(random(ctx, "nation", key), 31, 114)];
  }
}

/**
 * The suppliers whose comments hold "Customer … Complaints" or "Customer … Recommends" (Q16):
 * 5 of each per 10,000 in the spec; at least 2 here, so the smallest scales have some.
 */
function specialSuppliers(suppliers: number): Map<number, string> {
  const count = Math.max(2, Math.round((suppliers * 5) / 10_000));
  const out = new Map<number, string>();
  const stride = Math.floor(suppliers / (2 * count));
  for (let i = 0; i < 2 * count; i++) {
    out.set(i * stride + 1 + Math.floor(stride / 2), i % 2 === 0 ? "Complaints" : "Recommends");
  }
  return out;
}

function* supplierRows(ctx: Context): Iterable<Cell[]> {
  const special = specialSuppliers(ctx.scale.suppliers);
  for (let key = 1; key <= ctx.scale.suppliers; key++) {
    const r = random(ctx, "supplier", key);
    const nation = r.int(0, 24);
    let text = comment(r, 25, 100);
    const word = special.get(key);
    if (word) {
      const marker = `Customer ${sentence(r)} ${word}`;
      text = `${text.slice(0, 100 - marker.length)} ${marker}`.trim();
    }
    yield [
      key,
      `Supplier#${padded(key, 9)}`,
      address(r),
      nation,
      phone(r, nation),
      money(r.int(-99_999, 999_999)),
      text,
    ];
  }
}

function partName(r: Random): string {
  return r.sample(COLOURS, 5).join(" ");
}

function* partRows(ctx: Context): Iterable<Cell[]> {
  for (let key = 1; key <= ctx.scale.parts; key++) {
    const r = random(ctx, "part", key);
    const name = partName(r);
    const mfgr = r.int(1, 5);
    yield [
      key,
      name,
      `Manufacturer#${mfgr}`,
      `Brand#${mfgr}${r.int(1, 5)}`,
      `${r.pick(TYPE_SIZE)} ${r.pick(TYPE_FINISH)} ${r.pick(TYPE_METAL)}`,
      r.int(1, 50),
      `${r.pick(CONTAINER_SIZE)} ${r.pick(CONTAINER_KIND)}`,
      money(retailPriceCents(key)),
      comment(r, 5, 22),
    ];
  }
}

function* partsuppRows(ctx: Context): Iterable<Cell[]> {
  for (let part = 1; part <= ctx.scale.parts; part++) {
    for (let i = 0; i < 4; i++) {
      const r = random(ctx, "partsupp", part * 4 + i);
      yield [
        part,
        partSupplier(part, i, ctx.scale.suppliers),
        r.int(1, 9999),
        money(r.int(100, 100_000)),
        comment(r, 49, 198),
      ];
    }
  }
}

function* customerRows(ctx: Context): Iterable<Cell[]> {
  for (let key = 1; key <= ctx.scale.customers; key++) {
    const r = random(ctx, "customer", key);
    const nation = r.int(0, 24);
    yield [
      key,
      `Customer#${padded(key, 9)}`,
      address(r),
      nation,
      phone(r, nation),
      money(r.int(-99_999, 999_999)),
      r.pick(SEGMENTS),
      comment(r, 29, 116),
    ];
  }
}

interface OrderWithLines {
  order: Cell[];
  lines: Cell[][];
}

/** A customer key that has orders: the spec leaves every third customer without any. */
function orderingCustomer(r: Random, customers: number): number {
  if (customers < 3) return 1;
  for (;;) {
    const key = r.int(1, customers);
    if (key % 3 !== 0) return key;
  }
}

function lineOf(r: Random, ctx: Context, key: number, number: number, orderDay: number) {
  const part = r.int(1, ctx.scale.parts);
  const supplier = partSupplier(part, r.int(0, 3), ctx.scale.suppliers);
  const quantity = r.int(1, 50);
  const extended = quantity * retailPriceCents(part);
  const discount = r.int(0, 10);
  const tax = r.int(0, 8);
  const shipDay = orderDay + r.int(1, 121);
  const commitDay = orderDay + r.int(30, 90);
  const receiptDay = shipDay + r.int(1, 30);
  const returnFlag = receiptDay <= CURRENT_DAY ? r.pick(["R", "A"]) : "N";
  const lineStatus = shipDay > CURRENT_DAY ? "O" : "F";
  const row: Cell[] = [
    key,
    part,
    supplier,
    number,
    money(quantity * 100),
    money(extended),
    money(discount),
    money(tax),
    returnFlag,
    lineStatus,
    isoDate(shipDay),
    isoDate(commitDay),
    isoDate(receiptDay),
    r.pick(INSTRUCTIONS),
    r.pick(SHIP_MODES),
    comment(r, 10, 43),
  ];
  const charged = Math.round((extended * (100 - discount) * (100 + tax)) / 10_000);
  return { row, charged, lineStatus };
}

/** Order `index` and its lines; the order's total and status come from its lines. */
function orderWithLines(ctx: Context, index: number): OrderWithLines {
  const r = random(ctx, "orders", index);
  const key = orderKey(index);
  const customer = orderingCustomer(r, ctx.scale.customers);
  const orderDay = r.int(START_DAY, LAST_ORDER_DAY);
  const lines: Cell[][] = [];
  let total = 0;
  const statuses = new Set<string>();
  const count = r.int(1, 7);
  for (let number = 1; number <= count; number++) {
    const line = lineOf(r, ctx, key, number, orderDay);
    lines.push(line.row);
    total += line.charged;
    statuses.add(line.lineStatus);
  }
  const status = statuses.size > 1 ? "P" : statuses.has("O") ? "O" : "F";
  const order: Cell[] = [
    key,
    customer,
    status,
    money(total),
    isoDate(orderDay),
    r.pick(PRIORITIES),
    `Clerk#${padded(r.int(1, ctx.scale.clerks), 9)}`,
    0,
    comment(r, 19, 78),
  ];
  return { order, lines };
}

function* orderRows(ctx: Context): Iterable<Cell[]> {
  for (let i = 0; i < ctx.scale.orders; i++) yield orderWithLines(ctx, i).order;
}

function* lineitemRows(ctx: Context): Iterable<Cell[]> {
  for (let i = 0; i < ctx.scale.orders; i++) yield* orderWithLines(ctx, i).lines;
}

const ROWS: Record<TpchTableName, (ctx: Context) => Iterable<Cell[]>> = {
  region: regionRows,
  nation: nationRows,
  supplier: supplierRows,
  part: partRows,
  partsupp: partsuppRows,
  customer: customerRows,
  orders: orderRows,
  lineitem: lineitemRows,
};

function rowCount(name: TpchTableName, scale: TpchScale): number {
  switch (name) {
    case "region":
      return REGIONS.length;
    case "nation":
      return NATIONS.length;
    case "supplier":
      return scale.suppliers;
    case "part":
      return scale.parts;
    case "partsupp":
      return scale.parts * 4;
    case "customer":
      return scale.customers;
    case "orders":
      return scale.orders;
    case "lineitem":
      return scale.orders * 4;
  }
}

/** A seed under which every query has rows at SF 0.01 and 0.1 (Q8, Q18, Q19 and Q20 have few). */
export const DEFAULT_SEED = 39;

/** The eight tables at scale factor `sf` (0.1 for tests; 0.1 and 1 for benchmarks). */
export function tpchTables(sf: number, seed = DEFAULT_SEED): TpchTable[] {
  const ctx: Context = { seed, scale: tpchScale(sf) };
  return TPCH_TABLE_NAMES.map((name) => ({
    name,
    columns: COLUMNS[name],
    primaryKey: PRIMARY_KEYS[name],
    rowCount: rowCount(name, ctx.scale),
    rows: () => ROWS[name](ctx),
  }));
}
