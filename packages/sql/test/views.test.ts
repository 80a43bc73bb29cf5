/** Configured views are parsed once, at start: a bad one is refused with its name. */
import { expect, it } from "vitest";
import { parseViews } from "../src/views.ts";

it("parses each view's SELECT, by lower-case name", () => {
  const views = parseViews({ Big_Orders: "SELECT id FROM orders WHERE total > 100" });
  expect([...views.keys()]).toEqual(["big_orders"]);
});

it("refuses a view that does not parse, is not one SELECT, or takes a table's short name", () => {
  expect(() => parseViews({ broken: "SELECT FROM WHERE" })).toThrow(/view "broken": syntax error/);
  expect(() => parseViews({ wipe: "DELETE FROM orders" })).toThrow(
    /view "wipe": a view is one SELECT/,
  );
  expect(() => parseViews({ "a.b": "SELECT 1" })).toThrow(/one identifier/);
  expect(() => parseViews({ users: "SELECT 1" }, ["users"])).toThrow(/short name in tables/);
});
