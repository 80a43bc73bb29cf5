/**
 * Route paths for the HTTP front door: a path is matched exactly, or per segment when it names
 * segments (`/api/v1/label/:name/values`), whose values the route is then given.
 */
import { EntenteError } from "@entente/protocol";

export interface PathPattern {
  /** The path as declared. */
  readonly path: string;
  /** The segments, a name (without its `:`) where the segment is a parameter. */
  readonly segments: ReadonlyArray<{ literal: string } | { param: string }>;
  /** Same for patterns that match the same paths (`:a` and `:b` are one shape). */
  readonly shape: string;
  readonly hasParams: boolean;
}

export function compilePath(path: string): PathPattern {
  const segments = path.split("/").map((part) => {
    if (!part.startsWith(":")) return { literal: part };
    const param = part.slice(1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(param)) {
      throw new Error(`HTTP route ${path}: ${JSON.stringify(part)} is not a segment name`);
    }
    return { param };
  });
  const names = segments.flatMap((s) => ("param" in s ? [s.param] : []));
  if (new Set(names).size !== names.length) {
    throw new Error(`HTTP route ${path} names a segment twice`);
  }
  return {
    path,
    segments,
    shape: segments.map((s) => ("param" in s ? ":" : s.literal)).join("/"),
    hasParams: names.length > 0,
  };
}

/**
 * The parameters of `path` when it matches `pattern`, else undefined. A parameter matches one
 * whole, non-empty segment, percent-decoded; a segment that does not decode is a bad request.
 */
export function matchPath(pattern: PathPattern, path: string): Record<string, string> | undefined {
  const parts = path.split("/");
  if (parts.length !== pattern.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of pattern.segments.entries()) {
    const part = parts[i] as string;
    if ("literal" in segment) {
      if (part !== segment.literal) return undefined;
    } else {
      if (part === "") return undefined;
      params[segment.param] = decodeSegment(part, path);
    }
  }
  return params;
}

function decodeSegment(part: string, path: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new EntenteError("BAD_REQUEST", `the path ${path} is not validly percent-encoded`);
  }
}
