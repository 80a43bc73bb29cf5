import { readFileSync } from "node:fs";
import {
  type Document,
  isMap,
  isScalar,
  LineCounter,
  parseDocument,
  parse as parseYamlValue,
} from "yaml";
import type { z } from "zod";
import { configSchema, type EntenteConfig } from "./schema.ts";
import { isSecretSchema, withSecretEnv } from "./secret.ts";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const ENV_PREFIX = "ENTENTE_";
/** Environment variables that are not configuration paths. */
const RESERVED_ENV = new Set(["ENTENTE_CONFIG"]);
/** Variables that set a top-level value, one path segment deep. */
const TOP_LEVEL_ENV: Record<string, string> = { ENTENTE_DEPLOYMENT: "deployment" };

export interface ConfigProblem {
  /** Dotted path in the configuration, e.g. `nats.servers.0`. */
  path: string;
  message: string;
  /** Where the value came from: `file.yaml:12:5`, an environment variable, or the default. */
  origin: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  /**
   * When the core sections are wrong, the file as read: service sections can still be checked,
   * so every mistake is reported at once.
   */
  readonly sections: ConfigSections | undefined;
  constructor(problems: ConfigProblem[], sections?: ConfigSections) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.origin}: ${p.path}: ${p.message}`).join("\n")}`,
    );
    this.name = "ConfigError";
    this.problems = problems;
    this.sections = sections;
  }
}

/** The configuration as read, before the core sections are known to be valid. */
export type ConfigSections = Pick<LoadedConfig, "raw" | "file" | "section">;

/**
 * The configuration as loaded: the validated core, the raw tree (service sections are read
 * from it by each service), and enough of the source to point a mistake at its line.
 */
export interface LoadedConfig {
  config: EntenteConfig;
  raw: Record<string, unknown>;
  file: string | undefined;
  /** Validates one service's section with the same error reporting as the core. */
  section<S extends z.ZodType>(key: string, schema: S): z.output<S>;
}

export interface LoadOptions {
  /** The YAML file; else `ENTENTE_CONFIG`; else the embedded default (no file). */
  file?: string | undefined;
  /** YAML text instead of a file (tests, embedded defaults). */
  text?: string;
  /**
   * The sections services read, beyond the core: an environment override reaches their keys
   * (`ENTENTE_SQLJOIN__BATCHROWS` → `sqlJoin.batchRows`) even where the file does not name them.
   */
  sections?: Record<string, z.ZodType>;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file =
    options.file ?? (options.text === undefined ? env.ENTENTE_CONFIG || undefined : undefined);
  const text = options.text ?? (file === undefined ? "" : readConfigFile(file));
  const source = file ?? "(inline configuration)";

  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        path: "(document)",
        message: e.message.split("\n")[0] ?? e.message,
        // `linePos` is filled only with prettyErrors; the offset is always there.
        origin: position(source, e.linePos?.[0] ?? lines.linePos(e.pos[0])),
      })),
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([
      { path: "(document)", message: "expected a mapping of sections", origin: `${source}:1:1` },
    ]);
  }
  const raw = parsed as Record<string, unknown>;
  const fromEnv = applyEnvOverrides(raw, env, knownKeysWith(options.sections));

  const originOf = (path: PropertyKey[], key = false): string => {
    const dotted = path.map(String).join(".");
    for (const [prefix, variable] of fromEnv) {
      if (dotted === prefix || dotted.startsWith(`${prefix}.`)) return `environment ${variable}`;
    }
    return locate(doc, lines, path, source, key);
  };

  const validate = <S extends z.ZodType>(
    schema: S,
    value: unknown,
    base: string[],
  ): z.output<S> => {
    // `{ env: … }` secrets read the same environment as the overrides.
    const result = withSecretEnv(env, () => schema.safeParse(value));
    if (result.success) return result.data;
    throw new ConfigError(
      result.error.issues.flatMap((issue) => {
        const path = [...base, ...issue.path];
        const dotted = path.length > 0 ? path.map(String).join(".") : "(document)";
        if (issue.code === "unrecognized_keys") {
          // One problem per key, each blamed on what set it: a variable or the key's own line.
          return issue.keys.map((key) => ({
            path: dotted,
            message: `Unrecognized key: "${key}"`,
            origin: originOf([...path, key], true),
          }));
        }
        return [{ path: dotted, message: issue.message, origin: originOf(path) }];
      }),
    );
  };

  const section = <S extends z.ZodType>(key: string, schema: S) =>
    validate(schema, raw[key], [key]);
  let config: EntenteConfig;
  try {
    config = validate(configSchema, raw, []);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(err.problems, { raw, file, section });
  }
  // `nats.servers` in the file wins, then NATS_URL, then the local default.
  config.nats.servers ??= (env.NATS_URL ?? DEFAULT_NATS_URL)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

  return {
    config,
    raw,
    file,
    section,
  };
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(err);
    throw new ConfigError([{ path: "(file)", message: reason, origin: file }]);
  }
}

/**
 * `ENTENTE_DEPLOYMENT=name` sets `deployment` (as text); `ENTENTE_<SECTION>__<KEY>=value` sets
 * `section.key` (YAML syntax for the value, so numbers,
 * booleans and `[a, b]` lists work). Path segments match existing keys ignoring case and the
 * difference between `_` and `-`, so `ENTENTE_RUNTIME__BATCHBYTES` reaches `runtime.batchBytes`.
 * Returns the dotted paths set, with the variable that set each.
 */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  knownKeys: readonly string[] = KNOWN_KEYS,
): Array<[string, string]> {
  const applied: Array<[string, string]> = [];
  const variables = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !RESERVED_ENV.has(name))
    .sort();
  for (const variable of variables) {
    const topLevel = TOP_LEVEL_ENV[variable];
    if (topLevel !== undefined) {
      raw[topLevel] = env[variable] ?? "";
      applied.push([topLevel, variable]);
      continue;
    }
    const segments = variable.slice(ENV_PREFIX.length).split("__").filter(Boolean);
    if (segments.length < 2) continue; // `ENTENTE_X` alone is not a path
    let node: Record<string, unknown> = raw;
    const path: string[] = [];
    for (const [index, segment] of segments.entries()) {
      const key = matchKey(node, segment, knownKeys);
      path.push(key);
      if (index === segments.length - 1) {
        node[key] = SECRET_KEYS.has(key)
          ? parseSecretValue(env[variable] ?? "")
          : parseEnvValue(env[variable] ?? "");
      } else {
        const next = node[key];
        if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
    }
    applied.push([path.join("."), variable]);
  }
  return applied;
}

/** Keys whose values are secrets (`nats.pass`, …): filled in while KNOWN_KEYS is derived. */
const SECRET_KEYS = new Set<string>();

/**
 * Every key the core schema knows, at any depth, so an override reaches e.g.
 * `runtime.maxStreamCredit` even when the file does not mention it. Derived from the schema, so
 * a new setting cannot be forgotten here.
 */
const KNOWN_KEYS: readonly string[] = [...schemaKeys(configSchema)];

function schemaKeys(schema: z.ZodType, into = new Set<string>(), seen = new Set<unknown>()) {
  if (seen.has(schema)) return into;
  seen.add(schema);
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const visit = (child: unknown) => {
    if (child && typeof child === "object" && "_zod" in child) {
      schemaKeys(child as z.ZodType, into, seen);
    }
  };
  if (def.type === "object") {
    for (const [key, child] of Object.entries(def.shape as Record<string, unknown>)) {
      into.add(key);
      if (isSecretSchema(child)) SECRET_KEYS.add(key);
      visit(child);
    }
  }
  for (const field of ["innerType", "in", "out", "element", "valueType"]) visit(def[field]);
  if (Array.isArray(def.options)) for (const option of def.options) visit(option);
  return into;
}

/** The core's keys with those of the services' sections and the section names themselves. */
function knownKeysWith(sections: Record<string, z.ZodType> | undefined): readonly string[] {
  if (sections === undefined) return KNOWN_KEYS;
  const keys = new Set(KNOWN_KEYS);
  for (const [name, schema] of Object.entries(sections)) {
    keys.add(name);
    for (const key of schemaKeys(schema)) keys.add(key);
  }
  return [...keys];
}

function matchKey(
  node: Record<string, unknown>,
  segment: string,
  knownKeys: readonly string[],
): string {
  const wanted = normalize(segment);
  const existing = [...Object.keys(node), ...knownKeys].find((key) => normalize(key) === wanted);
  return existing ?? segment.toLowerCase().replaceAll("_", "-");
}

function normalize(key: string): string {
  return key.toLowerCase().replaceAll(/[-_]/g, "");
}

/**
 * A secret is taken as written (YAML would turn `0123` into 123), unless it is the mapping form,
 * e.g. `ENTENTE_NATS__PASS='{file: /run/secrets/nats}'`.
 */
function parseSecretValue(text: string): unknown {
  if (!text.trimStart().startsWith("{")) return text;
  const parsed = parseEnvValue(text);
  const isReference =
    typeof parsed === "object" &&
    parsed !== null &&
    Object.keys(parsed).length === 1 &&
    ("env" in parsed || "file" in parsed);
  return isReference ? parsed : text;
}

function parseEnvValue(text: string): unknown {
  try {
    return parseYamlValue(text);
  } catch {
    return text;
  }
}

/**
 * Where `path` is in the file. With `key`, the last segment names a key, reported at the key
 * itself rather than its value.
 */
function locate(
  doc: Document,
  lines: LineCounter,
  path: PropertyKey[],
  source: string,
  key = false,
): string {
  const keys = path.map((k) => (typeof k === "symbol" ? String(k) : k));
  if (key && keys.length > 0) {
    const parent = keys.length === 1 ? doc.contents : doc.getIn(keys.slice(0, -1), true);
    if (isMap(parent)) {
      const name = String(keys.at(-1));
      const pair = parent.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === name,
      );
      const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (range) return position(source, lines.linePos(range[0]));
    }
  }
  // Walk up to the deepest node that exists: a missing key is reported at its parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(keys.slice(0, depth), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return position(source, lines.linePos(range[0]));
  }
  return source;
}

function position(source: string, at: { line: number; col: number }): string {
  return `${source}:${at.line}:${at.col}`;
}
