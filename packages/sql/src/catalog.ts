/** Table addressing: `source.schema.table`, `source.table`, configured aliases, unique bare names. */
import { didYouMean, notFound } from "./errors.ts";
import type { LogicalTable } from "./logical.ts";
import type { Ast } from "./parse.ts";
import type { CatalogTable, SourceInfo } from "./types.ts";
import type { Views } from "./views.ts";

export interface Catalog {
  /** Resolves a reference (1 to 3 name parts); NOT_FOUND names the nearest known table. */
  resolve(parts: string[]): CatalogTable;
  source(name: string): SourceInfo;
  /** A sharded or tiered logical table of this name, if there is one. */
  logical?(name: string): LogicalTable | undefined;
  /** A view of this name (from the configuration), if there is one: its SELECT's syntax tree. */
  view?(name: string): Ast | undefined;
}

const DEFAULT_SCHEMAS = ["public", "main"];

/** A catalog over a fixed list of tables; the service rebuilds it when sources change. */
export class StaticCatalog implements Catalog {
  readonly tables: CatalogTable[];
  readonly sources: Map<string, SourceInfo>;
  readonly aliases: Map<string, string[]>;
  readonly logicalTables: Map<string, LogicalTable>;
  readonly views: Views;

  constructor(
    tables: CatalogTable[],
    sources: SourceInfo[],
    aliases: Record<string, string> = {},
    logical: LogicalTable[] = [],
    views: Views = new Map(),
  ) {
    this.tables = tables;
    this.views = views;
    this.logicalTables = new Map(logical.map((t) => [t.name.toLowerCase(), t]));
    this.sources = new Map(sources.map((s) => [s.name, s]));
    this.aliases = new Map(
      Object.entries(aliases).map(([alias, target]) => [alias.toLowerCase(), target.split(".")]),
    );
  }

  source(name: string): SourceInfo {
    const s = this.sources.get(name);
    if (!s) throw notFound(`unknown source "${name}"${didYouMean(name, this.sources.keys())}`);
    return s;
  }

  logical(name: string): LogicalTable | undefined {
    return this.logicalTables.get(name.toLowerCase());
  }

  view(name: string): Ast | undefined {
    return this.views.get(name.toLowerCase());
  }

  resolve(parts: string[]): CatalogTable {
    const found = this.tryResolve(parts);
    if (found) return found;
    const written = parts.join(".");
    throw notFound(
      `unknown table "${written}"${didYouMean(written, this.knownNames(parts.length))}`,
      {
        table: written,
      },
    );
  }

  tryResolve(parts: string[]): CatalogTable | undefined {
    const lower = parts.map((p) => p.toLowerCase());
    if (lower.length === 1) {
      const alias = this.aliases.get(lower[0] as string);
      if (alias) return this.tryResolve(alias);
      const matches = this.tables.filter((t) => t.name.toLowerCase() === lower[0]);
      const exact = matches.filter((t) => t.name === parts[0]);
      const pick = exact.length === 1 ? exact : matches;
      if (pick.length === 1) return pick[0];
      if (pick.length > 1) {
        const where = pick.map((t) => `${t.source}.${t.schema}.${t.name}`).join(", ");
        throw notFound(`table "${parts[0]}" is ambiguous: qualify it as one of ${where}`);
      }
      return undefined;
    }
    if (lower.length === 2) {
      const [source, name] = lower as [string, string];
      const inSource = this.tables.filter(
        (t) => t.source.toLowerCase() === source && t.name.toLowerCase() === name,
      );
      if (inSource.length === 1) return inSource[0];
      if (inSource.length > 1) {
        return (
          inSource.find((t) => DEFAULT_SCHEMAS.includes(t.schema.toLowerCase())) ?? inSource[0]
        );
      }
      return undefined;
    }
    if (lower.length === 3) {
      const [source, schema, name] = lower as [string, string, string];
      return this.tables.find(
        (t) =>
          t.source.toLowerCase() === source &&
          t.schema.toLowerCase() === schema &&
          t.name.toLowerCase() === name,
      );
    }
    return undefined;
  }

  private knownNames(depth: number): string[] {
    const names = new Set<string>([
      ...this.aliases.keys(),
      ...this.logicalTables.keys(),
      ...this.views.keys(),
    ]);
    for (const t of this.tables) {
      if (depth <= 1) names.add(t.name);
      else if (depth === 2) names.add(`${t.source}.${t.name}`);
      else names.add(`${t.source}.${t.schema}.${t.name}`);
    }
    return [...names];
  }
}
