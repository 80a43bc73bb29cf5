/**
 * Which instances a PromQL query reads, as `entente.query` decides it: `__instance__` matchers
 * select instances by name (every selector must then name the same ones), and router rules
 * look at the label values every selector asks for alike. The `__instance__` matchers are taken
 * out of the selectors, which instances never see. Pure.
 */

import { type Expr, type LabelMatcher, mapSelectors, selectorsOf } from "@entente/promql";
import { INSTANCE_TAG } from "@entente/protocol";
import type { FederatedQuery, Matcher } from "../query.ts";
import { compileTagRegex } from "../tag-regex.ts";
import { badData } from "./bad-data.ts";

export interface Routed {
  /** The query to route (its metric unused). */
  routing: FederatedQuery;
  /** The expression without `__instance__` matchers. */
  expr: Expr;
}

const key = (m: LabelMatcher) => JSON.stringify([m.name, m.op, m.value]);

export function routePromql(expr: Expr): Routed {
  const selectors = selectorsOf(expr);
  const instanceSets = selectors.map((s) =>
    s.matchers
      .filter((m) => m.name === INSTANCE_TAG)
      .map(key)
      .sort()
      .join(","),
  );
  const chosen = instanceSets[0] ?? "";
  if (instanceSets.some((set) => set !== chosen)) {
    throw badData(`every selector of a query must select the same instances with ${INSTANCE_TAG}`);
  }
  const first = selectors[0];
  const instanceMatchers = (first?.matchers ?? [])
    .filter((m) => m.name === INSTANCE_TAG)
    .map(toMatcher);
  // A matcher routes only when every selector has it: a selector without it may read anywhere.
  const shared = (first?.matchers ?? []).filter(
    (m) =>
      m.name !== INSTANCE_TAG &&
      m.name !== "__name__" &&
      selectors.every((s) => s.matchers.some((other) => key(other) === key(m))),
  );
  const stripped =
    instanceMatchers.length === 0
      ? expr
      : mapSelectors(expr, (s) => {
          const matchers = s.matchers.filter((m) => m.name !== INSTANCE_TAG);
          if (matchers.length === 0) {
            throw badData(
              `a selector needs a matcher besides ${INSTANCE_TAG}, which only selects instances`,
            );
          }
          return { ...s, matchers };
        });
  return {
    routing: {
      metric: "",
      start: 0n,
      end: 0n,
      matchers: shared.map(toMatcher),
      instanceMatchers,
      partial: "allow",
    },
    expr: stripped,
  };
}

/** A PromQL label matcher as a federated query's tag matcher. */
export function toMatcher(m: LabelMatcher): Matcher {
  const matcher: Matcher = { tag: m.name, op: m.op, value: m.value };
  if (m.op === "=~" || m.op === "!~") matcher.regex = compileTagRegex(m.name, m.value);
  return matcher;
}
