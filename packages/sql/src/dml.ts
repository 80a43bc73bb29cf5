/**
 * Writes: INSERT, UPDATE and DELETE bound against the catalog and split into what each source
 * runs. UPDATE and DELETE are rendered in the target source's dialect from bound expressions
 * (identifiers quoted, every value a parameter), so a column the table lacks or an expression
 * the source cannot run is refused before anything is sent. INSERT rows are evaluated here and
 * routed: to the table, or to the member of a sharded or tiered table that holds their key.
 * Pure: the service runs the statements.
 */

import { bindScalar, nameOf, typesMatch } from "./bind.ts";
import type { Catalog } from "./catalog.ts";
import { Decimal } from "./decimal.ts";
import { badRequest, notFound, unsupported } from "./errors.ts";
import { compile } from "./evaluate.ts";
import {
  enforcedPredicate,
  factsAbout,
  type LogicalMember,
  type LogicalTable,
  membersFor,
  narrowForMember,
} from "./logical.ts";
import type { Ast, ParsedStatement } from "./parse.ts";
import type { Expr } from "./plan.ts";
import { canPush, computesWithFloat, testsFloat } from "./pushdown.ts";
import {
  type ColumnText,
  columnSql,
  ParamList,
  qualifiedName,
  renderAssigned,
  renderExpr,
} from "./render.ts";
import type { CatalogTable, ColumnDef, Row, SourceStatement, SqlType, Value } from "./types.ts";
import { castValue, toDecimalValue } from "./values.ts";

/** Rows to insert into one physical table. */
export interface InsertWrite {
  kind: "insert";
  table: CatalogTable;
  /** The table's columns the rows carry, in row order. */
  columns: ColumnDef[];
  rows: Row[];
}

/** A rendered UPDATE or DELETE for one physical table. */
export interface StatementWrite {
  kind: "update" | "delete";
  table: CatalogTable;
  statement: SourceStatement;
}

export type SourceWrite = InsertWrite | StatementWrite;

/** What the target of an INSERT is: rows are routed to physical tables by `route`. */
export interface InsertTarget {
  /** The target as the statement names it. */
  name: string;
  columns: ColumnDef[];
  /** Splits rows over the physical tables that take them. */
  route(rows: readonly Row[]): InsertWrite[];
}

/** A bound write: INSERT with its rows (or its SELECT to run first), UPDATE or DELETE. */
export type WritePlan =
  | { kind: "insert"; target: InsertTarget; rows: Row[] }
  | { kind: "insert-select"; target: InsertTarget; select: Ast }
  | { kind: "update" | "delete"; writes: StatementWrite[] };

/** Binds a parsed INSERT, UPDATE or DELETE. */
export function bindWrite(
  statement: ParsedStatement,
  catalog: Catalog,
  params: unknown[] = [],
): WritePlan {
  const ast = statement.ast;
  switch (statement.kind) {
    case "insert":
      return bindInsert(ast, catalog, params);
    case "update":
    case "delete":
      return { kind: statement.kind, writes: bindUpdateOrDelete(ast, catalog, params) };
    default:
      throw badRequest(`${statement.kind.toUpperCase()} is not a write`);
  }
}

/** The sources a write plan writes, before its rows are known (INSERT routes them later). */
export function sourcesOfWrites(writes: readonly SourceWrite[]): string[] {
  return [...new Set(writes.map((w) => w.table.source))];
}

type Target = { kind: "table"; table: CatalogTable } | { kind: "logical"; table: LogicalTable };

function targetOf(ast: Ast, catalog: Catalog): Target {
  const tables = Array.isArray(ast.table) ? ast.table : [ast.table];
  if (tables.length !== 1) throw unsupported("a write names exactly one table");
  const ref = tables[0];
  const parts = [ref.db, ref.schema, ref.table].filter(
    (p): p is string => typeof p === "string" && p !== "",
  );
  const logical = parts.length === 1 ? catalog.logical?.(parts[0] as string) : undefined;
  if (logical) return { kind: "logical", table: logical };
  const table = catalog.resolve(parts);
  if (table.path) {
    throw badRequest(
      `${parts.join(".")} is another region's table: rows are written in the region that owns them (entente.data.put)`,
    );
  }
  return { kind: "table", table };
}

function bindInsert(ast: Ast, catalog: Catalog, params: unknown[]): WritePlan {
  if (ast.conflict) throw unsupported("INSERT … ON CONFLICT is not supported");
  if (ast.returning) throw unsupported("RETURNING is not supported");
  const target = insertTarget(targetOf(ast, catalog), ast.columns);
  const values = ast.values;
  if (values?.type === "select") {
    return { kind: "insert-select", target, select: values };
  }
  if (values?.type !== "values") throw unsupported("this form of INSERT is not supported");
  const rows = (values.values as Ast[]).map((tuple, r) => {
    const exprs: Ast[] = tuple?.value ?? [];
    if (exprs.length !== target.columns.length) {
      throw badRequest(
        `VALUES row ${r + 1} has ${exprs.length} values for ${target.columns.length} columns (${target.columns.map((c) => c.name).join(", ")})`,
      );
    }
    return exprs.map((e, i) =>
      constantValue(e, target.columns[i] as ColumnDef, catalog, params, `VALUES row ${r + 1}`),
    );
  });
  return { kind: "insert", target, rows };
}

/** A VALUES entry: a constant expression, evaluated and cast to its column's type. */
function constantValue(
  e: Ast,
  column: ColumnDef,
  catalog: Catalog,
  params: unknown[],
  where: string,
): Value {
  if (e?.type === "default") throw unsupported(`DEFAULT in ${where} is not supported`);
  const expr = bindScalar(e, { qualifier: "", columns: [] }, catalog, params, where);
  const value = compile(expr, { subqueries: [] })([]);
  return castInto(value, column, where);
}

/**
 * A value as the column stores it; a value the type cannot hold names the column. `from` is the
 * type of a selected value: an answered decimal is its text, read back as the decimal it is.
 */
export function castInto(value: Value, column: ColumnDef, where: string, from?: SqlType): Value {
  try {
    const read = from === "decimal" && typeof value === "string" ? toDecimalValue(value) : value;
    const cast = castValue(read, column.type);
    // Sources take decimals as their exact text.
    return cast instanceof Decimal ? cast.toString() : cast;
  } catch (err) {
    throw badRequest(`${where}, column "${column.name}": ${(err as Error).message}`);
  }
}

function insertTarget(target: Target, listed: Ast[] | null): InsertTarget {
  const all = target.table.columns;
  const columns = listed?.length
    ? listed.map((c) => columnNamed(all, nameOf(c), targetName(target)))
    : [...all];
  const twice = columns.find((c, i) => columns.indexOf(c) !== i);
  if (twice) throw badRequest(`column "${twice.name}" is named more than once in the INSERT`);
  const name = targetName(target);
  if (target.kind === "table") {
    const table = target.table;
    return {
      name,
      columns,
      route: (rows) =>
        rows.length === 0 ? [] : [{ kind: "insert", table, columns, rows: [...rows] }],
    };
  }
  const logical = target.table;
  const key = logical.members[0]?.constraint.column ?? "";
  const keyIndex = columns.findIndex((c) => c.name === key);
  if (keyIndex < 0) {
    throw badRequest(
      `an INSERT into ${logical.kind} table "${logical.name}" must name its ${logical.kind === "tiered" ? "time" : "shard key"} column "${key}": it decides which member takes each row`,
    );
  }
  return {
    name,
    columns,
    route: (rows) => routeRows(logical, columns, keyIndex, rows),
  };
}

/** Each row to the one member whose constraint holds its key; a tiered table takes rows only in its hot tier. */
function routeRows(
  logical: LogicalTable,
  columns: ColumnDef[],
  keyIndex: number,
  rows: readonly Row[],
): InsertWrite[] {
  const byMember = new Map<LogicalMember, Row[]>();
  const hot = logical.kind === "tiered" ? requireHotTier(logical) : undefined;
  rows.forEach((row, r) => {
    const key = row[keyIndex];
    const member = membersFor(logical, key)[0];
    if (member === undefined || key === null) {
      throw badRequest(
        `row ${r + 1}: no member of "${logical.name}" takes ${columns[keyIndex]?.name} = ${String(key)}`,
      );
    }
    if (hot && member !== hot) {
      throw badRequest(
        `row ${r + 1}: ${columns[keyIndex]?.name} = ${String(key)} falls in tier "${member.label}" of "${logical.name}"; writes go to its hot tier "${hot.label}" only`,
      );
    }
    writableMember(logical, member);
    const group = byMember.get(member) ?? [];
    group.push(row);
    byMember.set(member, group);
  });
  return [...byMember.entries()].map(([member, group]) => ({
    kind: "insert",
    table: member.table,
    columns: columns.map((c) => columnNamed(member.table.columns, c.name, member.label)),
    rows: group,
  }));
}

/** The tier holding the newest rows: the range open at its upper end. */
function hotTier(logical: LogicalTable): LogicalMember | undefined {
  return logical.members.find((m) => m.constraint.kind === "range" && m.constraint.to == null);
}

/**
 * Rows of a table sharded by region-owned ids are written with `entente.data.put`, in the
 * region that owns them, which publishes them to that region's change feed: other regions'
 * replicas follow it, and a write beside it would leave them stale.
 */
function writableMember(logical: LogicalTable, member: LogicalMember): void {
  if (member.table.path || member.constraint.kind === "region") {
    throw badRequest(
      `"${logical.name}" is sharded by region-owned ids: its rows are written with entente.data.put, in the region that owns them, so other regions' replicas see the change`,
    );
  }
}

function bindUpdateOrDelete(ast: Ast, catalog: Catalog, params: unknown[]): StatementWrite[] {
  if (ast.returning) throw unsupported("RETURNING is not supported");
  if (ast.type === "update" && ast.from?.length)
    throw unsupported("UPDATE … FROM is not supported");
  if (ast.with) throw unsupported(`WITH on ${String(ast.type).toUpperCase()} is not supported`);
  const target = targetOf(ast, catalog);
  const columns = target.table.columns;
  const qualifier = String(ast.table?.[0]?.as ?? ast.table?.[0]?.table ?? "");
  const bind = (e: Ast, clause: string) =>
    bindScalar(e, { qualifier, columns }, catalog, params, clause);
  const where = ast.where ? bind(ast.where, "WHERE") : undefined;
  if (where && where.type !== "boolean" && where.type !== "null") {
    throw badRequest(`argument of WHERE must be type boolean, not type ${where.type}`);
  }
  const set =
    ast.type === "update"
      ? (ast.set as Ast[]).map((s) => {
          const column = columnNamed(columns, nameOf(s.column), targetName(target));
          const value = bind(s.value, `SET ${column.name}`);
          if (value.type !== "null" && !typesMatch(value.type, column.type)) {
            throw badRequest(
              `column "${column.name}" is of type ${column.type} but the expression is of type ${value.type}`,
            );
          }
          return { index: columns.indexOf(column), value };
        })
      : [];
  const tables =
    target.kind === "table"
      ? [{ table: target.table, narrow: (e: Expr | undefined) => e }]
      : membersWritten(target.table, where, set);
  return tables.map(({ table, narrow }) => {
    const source = catalog.source(table.source);
    const params = new ParamList(source.dialect);
    const q = source.dialect.quoteIdentifier;
    // Slot i is the logical table's column i; a member names it the same. A blank-padded
    // char(n) column is compared without its padding, as a SELECT's pushed filter does.
    const name = (i: number) => columns[i]?.name ?? "";
    const columnOf = (i: number) => table.columns.find((c) => c.name === name(i)) ?? columns[i];
    const compared: ColumnText = (i, use) => columnSql(source.dialect, columnOf(i), use);
    // A column assigned as it is keeps an enum, money or uuid column's own type: PostgreSQL
    // assigns them no text. A float assigned or computed with is the number the engine reads
    // where that is the float itself (PostgreSQL's shortest text), else as stored: MySQL's six
    // printed digits would drop some the column holds.
    const storedColumn = (i: number) => q(columnOf(i)?.name ?? "");
    const printsExactly = source.dialect.kind === "postgres";
    const assignedColumn = (i: number) =>
      columnOf(i)?.singlePrecision && printsExactly ? compared(i) : storedColumn(i);
    const computed: ColumnText = (i, use) =>
      columnOf(i)?.singlePrecision && !printsExactly ? storedColumn(i) : compared(i, use);
    const slots = columns.map((_, i) => columnOf(i) ?? { name: name(i), type: "unknown" as const });
    const render = (e: Expr, clause: string, assigned = false) => {
      const floats = assigned
        ? !printsExactly && testsFloat(e, slots)
        : computesWithFloat(e, slots, source);
      if (!canPush(e, source) || floats) {
        throw unsupported(
          `${clause} cannot be run by source "${source.name}" (${source.dialect.kind})`,
        );
      }
      return assigned
        ? renderAssigned(e, computed, assignedColumn, params)
        : renderExpr(e, compared, params);
    };
    const condition = narrow(where);
    const whereSql = condition ? ` WHERE ${render(condition, "the WHERE condition")}` : "";
    const text =
      ast.type === "update"
        ? `UPDATE ${qualifiedName(source.dialect, table)} SET ${set.map((s) => `${q(name(s.index))} = ${render(s.value, `the value of ${name(s.index)}`, true)}`).join(", ")}${whereSql}`
        : `DELETE FROM ${qualifiedName(source.dialect, table)}${whereSql}`;
    return { kind: ast.type, table, statement: params.statement(text) };
  });
}

/**
 * The members of a logical table an UPDATE or DELETE reaches. A tiered table's: its hot tier,
 * within the tier's range. A sharded table's: those holding the values its WHERE fixes the key
 * column to; without such a routing key it would touch every member at once, which is refused.
 * Changing the key (or the tier's time) would move a row between members and is refused too.
 */
function membersWritten(
  logical: LogicalTable,
  where: Expr | undefined,
  set: { index: number }[],
): { table: CatalogTable; narrow: (e: Expr | undefined) => Expr | undefined }[] {
  const key = logical.members[0]?.constraint.column ?? "";
  const keyIndex = logical.columns.findIndex((c) => c.name === key);
  if (set.some((s) => s.index === keyIndex)) {
    throw unsupported(
      `UPDATE of "${key}", the column that places rows of ${logical.kind} table "${logical.name}" in its members, is not supported`,
    );
  }
  const reach = (member: LogicalMember) => {
    writableMember(logical, member);
    return {
      table: member.table,
      narrow: (e: Expr | undefined) => whereForMember(member, logical.columns, e),
    };
  };
  if (logical.kind === "tiered") return [reach(requireHotTier(logical))];
  const values = where ? factsAbout(conjunctsOf(where), keyIndex).values : undefined;
  if (values === undefined) {
    throw badRequest(
      `an UPDATE or DELETE on ${logical.kind} table "${logical.name}" needs a routing key: a WHERE that fixes "${key}" (${key} = … or ${key} IN (…)) so it reaches only the members holding those rows`,
    );
  }
  return [...new Set(values.flatMap((v) => membersFor(logical, v)))].map(reach);
}

function requireHotTier(logical: LogicalTable): LogicalMember {
  const hot = hotTier(logical);
  if (!hot) {
    throw badRequest(
      `tiered table "${logical.name}" has no hot tier (a tier open at its upper end) to take writes`,
    );
  }
  return hot;
}

function conjunctsOf(e: Expr): Expr[] {
  return e.k === "and" ? e.args.flatMap(conjunctsOf) : [e];
}

/** The WHERE as one member reads it: IN lists narrowed to its keys, its tier's range enforced. */
function whereForMember(
  member: LogicalMember,
  columns: ColumnDef[],
  where: Expr | undefined,
): Expr | undefined {
  const args = [
    ...(where ? conjunctsOf(where).map((c) => narrowForMember(member, columns, c)) : []),
    ...enforcedPredicate(member, columns),
  ];
  if (args.length === 0) return undefined;
  return args.length === 1 ? (args[0] as Expr) : { k: "and", args, type: "boolean" };
}

function columnNamed(columns: readonly ColumnDef[], name: string, table: string): ColumnDef {
  const found =
    columns.find((c) => c.name === name) ??
    columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
  if (!found) {
    throw notFound(
      `column "${name}" of ${table} does not exist (columns: ${columns.map((c) => c.name).join(", ")})`,
    );
  }
  return found;
}

function targetName(target: Target): string {
  const t = target.table;
  return target.kind === "logical"
    ? t.name
    : `${(t as CatalogTable).source}.${(t as CatalogTable).schema}.${t.name}`;
}
