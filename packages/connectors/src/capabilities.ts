import type { Capabilities, TextComparison } from "./types.ts";

/** Every standard operation pushes down; text handling depends on the collation. */
export function postgresCapabilities(textComparison: TextComparison): Capabilities {
  return {
    filters: true,
    textComparison,
    like: true,
    aggregates: true,
    countDistinct: true,
    joins: true,
    orderByNullsOrdering: true,
    limit: true,
    maxParams: 65_535,
  };
}

/** MariaDB/MySQL: case-insensitive default collations, and no NULLS FIRST/LAST. */
export function mysqlCapabilities(): Capabilities {
  return {
    filters: true,
    textComparison: "case-insensitive",
    // LIKE follows the column collation, so it is case-insensitive too.
    like: false,
    aggregates: true,
    countDistinct: true,
    joins: true,
    orderByNullsOrdering: false,
    limit: true,
    maxParams: 65_535,
  };
}

export function duckdbCapabilities(): Capabilities {
  return {
    filters: true,
    textComparison: "binary",
    like: true,
    aggregates: true,
    countDistinct: true,
    joins: true,
    orderByNullsOrdering: true,
    limit: true,
    maxParams: 65_535,
  };
}
