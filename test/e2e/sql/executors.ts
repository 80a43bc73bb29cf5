/**
 * Two ways to run a statement and get `{ columns, rows }` back: PostgreSQL directly through pg
 * (the reference, with values read the way the SQL join service documents them), and the SQL
 * join service on `entente.sql`, with pushdown or with every operator run in the engine.
 */
import type { EntenteClient } from "@entente/runtime";
import pg from "pg";
import type { SqlResult } from "./compare.ts";

export type Executor = (sql: string, params?: unknown[]) => Promise<SqlResult>;

const OID = {
  int8: 20,
  bpchar: 1042,
  numeric: 1700,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
};

/** `YYYY-MM-DD HH:MM:SS[.ffffff][+zz]` as nanoseconds since the epoch; no zone means UTC. */
function timestampNs(text: string): bigint {
  const match =
    /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([+-]\d{2}(?::?\d{2})?)?$/.exec(
      text,
    );
  if (!match) throw new Error(`unexpected timestamp ${text}`);
  const [, day, time, fraction = "", zone] = match;
  const offset = zone ? (zone.length === 3 ? `${zone}:00` : zone) : "Z";
  const ms = Date.parse(`${day}T${time}${offset}`);
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, "0"));
}

const typeParsers = {
  getTypeParser(oid: number, format?: string) {
    if (oid === OID.int8) return (text: string) => BigInt(text);
    // A char(n) value's padding is insignificant; the engine delivers it unpadded, as MariaDB does.
    if (oid === OID.bpchar) return (text: string) => text.replace(/ +$/, "");
    // Exact text, as the engine answers decimals: the two must agree to the last digit and scale.
    if (oid === OID.numeric) return (text: string) => text;
    if (oid === OID.date) return (text: string) => text;
    if (oid === OID.timestamp || oid === OID.timestamptz) return timestampNs;
    return pg.types.getTypeParser(oid, format as "text");
  },
};

export interface PgExecutor {
  run: Executor;
  close(): Promise<void>;
}

export async function postgresExecutor(url: string): Promise<PgExecutor> {
  const client = new pg.Client({ connectionString: url, types: typeParsers });
  client.on("error", () => {});
  await client.connect();
  return {
    async run(sql, params) {
      const result = await client.query({ text: sql, values: params ?? [], rowMode: "array" });
      return {
        columns: result.fields.map((f) => ({ name: f.name })),
        rows: result.rows as unknown[][],
      };
    },
    close: () => client.end(),
  };
}

interface ReplyItem {
  columns?: { name: string; type?: string }[];
  rows?: unknown[][];
  stats?: unknown;
}

/** Merges the items of an `entente.sql` reply: columns once, rows concatenated in order. */
export function mergeSqlReply(items: unknown[]): SqlResult & { stats: unknown[] } {
  const out: SqlResult & { stats: unknown[] } = { columns: [], rows: [], stats: [] };
  for (const item of items as ReplyItem[]) {
    if (item.columns) out.columns = item.columns;
    if (item.rows) for (const row of item.rows) out.rows.push(row);
    if (item.stats !== undefined) out.stats.push(item.stats);
  }
  return out;
}

export interface ServiceOptions {
  timeoutMs?: number;
  /** `false`: the sources only scan; every other operator runs in the engine. */
  pushdown?: boolean;
}

export function serviceExecutor(
  client: EntenteClient,
  subject: string,
  options: ServiceOptions = {},
): Executor {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const switches = options.pushdown === undefined ? {} : { pushdown: options.pushdown };
  return async (sql, params) => {
    const request = { sql, ...(params === undefined ? {} : { params }), ...switches };
    const items = await client.collect(subject, request, { timeoutMs });
    return mergeSqlReply(items);
  };
}
