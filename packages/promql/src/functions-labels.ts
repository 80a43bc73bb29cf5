/**
 * label_replace and label_join, with Prometheus 2.42's checks and Go's regexp semantics
 * (RE2, anchored; `$1`, `${1}`, `$name` expanded as Go's `Regexp.Expand` does).
 */
import { RE2JS } from "re2js";
import { executionError } from "./errors.ts";
import type { Labels, Vector } from "./values.ts";

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The label set with `name` set to `value`, or removed when `value` is empty (as Go's builder). */
/**
 * The longest label value label_replace and label_join may make. Nested joins double a value
 * at each level; without a bound a short query can grow labels until the worker runs out of
 * memory, which no sample limit sees.
 */
export const MAX_LABEL_VALUE_LENGTH = 64 * 1024;

function withLabel(labels: Labels, name: string, value: string): Labels {
  if (value.length > MAX_LABEL_VALUE_LENGTH) {
    throw executionError(
      `label ${name} would be ${value.length} characters long, more than the ${MAX_LABEL_VALUE_LENGTH} a label value may have`,
    );
  }
  const { [name]: _old, ...rest } = labels;
  return value === "" ? rest : { ...rest, [name]: value };
}

const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

interface TemplateReference {
  /** A group number, or -1 for a group name. */
  num: number;
  name: string;
  /** The template's rest after the reference. */
  rest: string;
}

/** Go's `extract`: reads `name` or `{name}` after a `$`, undefined when malformed. */
function extractReference(template: string): TemplateReference | undefined {
  let text = template;
  const brace = text.startsWith("{");
  if (brace) text = text.slice(1);
  let length = 0;
  for (const char of text) {
    if (!NAME_CHAR.test(char)) break;
    length += char.length;
  }
  if (length === 0) return undefined;
  const name = text.slice(0, length);
  if (brace) {
    if (text[length] !== "}") return undefined;
    length++;
  }
  let num = 0;
  for (const char of name) {
    if (char < "0" || char > "9" || num >= 1e8) {
      num = -1;
      break;
    }
    num = num * 10 + Number(char);
  }
  if (name.length > 1 && name.startsWith("0")) num = -1;
  return { num, name, rest: text.slice(length) };
}

/** Go's `Regexp.ExpandString` for one match: `groups[i]` is group i's text, or null. */
export function expandTemplate(
  template: string,
  groups: (string | null)[],
  namedGroups: Readonly<Record<string, number>>,
): string {
  let out = "";
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf("$");
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const reference = extractReference(rest);
    if (reference === undefined) {
      // Malformed: the `$` stays as text.
      out += "$";
      continue;
    }
    rest = reference.rest;
    const index = reference.num >= 0 ? reference.num : namedGroups[reference.name];
    if (index !== undefined) out += groups[index] ?? "";
  }
  return out + rest;
}

/** Compiled patterns, since a range query calls label_replace once per step. */
const compiled = new Map<string, RE2JS>();
const COMPILED_LIMIT = 256;

function compileAnchored(pattern: string): RE2JS {
  const cached = compiled.get(pattern);
  if (cached !== undefined) return cached;
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(`^(?:${pattern})$`);
  } catch {
    throw executionError(`invalid regular expression in label_replace(): ${pattern}`);
  }
  if (compiled.size >= COMPILED_LIMIT) compiled.clear();
  compiled.set(pattern, regex);
  return regex;
}

export function labelReplace(
  input: Vector,
  destination: string,
  replacement: string,
  source: string,
  pattern: string,
  ts: number,
): Vector {
  const regex = compileAnchored(pattern);
  if (!LABEL_NAME.test(destination)) {
    throw executionError(`invalid destination label name in label_replace(): ${destination}`);
  }
  const groupCount = regex.groupCount();
  const namedGroups = regex.namedGroups();
  return input.map((sample) => {
    const matcher = regex.matcher(sample.labels[source] ?? "");
    if (!matcher.matches()) return { labels: sample.labels, t: ts, v: sample.v };
    const groups: (string | null)[] = [];
    for (let i = 0; i <= groupCount; i++) groups.push(matcher.group(i));
    const value = expandTemplate(replacement, groups, namedGroups);
    return { labels: withLabel(sample.labels, destination, value), t: ts, v: sample.v };
  });
}

export function labelJoin(
  input: Vector,
  destination: string,
  separator: string,
  sources: string[],
  ts: number,
): Vector {
  for (const source of sources) {
    if (!LABEL_NAME.test(source)) {
      throw executionError(`invalid source label name in label_join(): ${source}`);
    }
  }
  if (!LABEL_NAME.test(destination)) {
    throw executionError(`invalid destination label name in label_join(): ${destination}`);
  }
  return input.map((sample) => {
    const value = sources.map((source) => sample.labels[source] ?? "").join(separator);
    return { labels: withLabel(sample.labels, destination, value), t: ts, v: sample.v };
  });
}
