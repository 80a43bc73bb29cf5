/**
 * Prints the served schema; with `--write`, into `schema.graphql` beside the package, where a
 * test compares it with the served one. Format the file afterwards as the repository does:
 * `pnpm exec biome format --write services/graphql/schema.graphql` (the test compares the two
 * as graphql prints them, so formatting does not count).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildSchema, printSchema } from "graphql";
import { TYPE_DEFS } from "./sdl.ts";

export const SCHEMA_FILE = fileURLToPath(new URL("../schema.graphql", import.meta.url));

export function printedSchema(): string {
  return `${printSchema(buildSchema(TYPE_DEFS))}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--write")) writeFileSync(SCHEMA_FILE, printedSchema());
  else process.stdout.write(printedSchema());
}
