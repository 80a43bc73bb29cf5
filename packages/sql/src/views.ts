/**
 * Views defined in the configuration: a name for a SELECT, used in FROM like a table and bound
 * where it is used, as a CTE is. Parsed once, when the worker starts, so a view that does not
 * parse stops the start with its name.
 */

import { badRequest } from "./errors.ts";
import type { Ast } from "./parse.ts";
import { parseSql } from "./parse.ts";

export type Views = ReadonlyMap<string, Ast>;

/** The views by lower-case name; a bad one fails with BAD_REQUEST naming it. */
export function parseViews(
  definitions: Record<string, string>,
  tableNames: Iterable<string> = [],
): Views {
  const taken = new Set([...tableNames].map((n) => n.toLowerCase()));
  const views = new Map<string, Ast>();
  for (const [name, sql] of Object.entries(definitions)) {
    const key = name.toLowerCase();
    if (!/^[A-Za-z_][\w$]*$/.test(name))
      throw badRequest(`view "${name}": a view's name is one identifier (letters, digits, _)`);
    if (taken.has(key)) throw badRequest(`view "${name}": a short name in tables: has this name`);
    if (views.has(key)) throw badRequest(`view "${name}" is defined twice (names ignore case)`);
    let parsed: ReturnType<typeof parseSql>;
    try {
      parsed = parseSql(sql);
    } catch (err) {
      throw badRequest(`view "${name}": ${(err as Error).message}`);
    }
    if (parsed.kind !== "select" || parsed.explain)
      throw badRequest(`view "${name}": a view is one SELECT`);
    views.set(key, parsed.ast);
  }
  return views;
}
