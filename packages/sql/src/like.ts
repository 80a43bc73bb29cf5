/**
 * SQL LIKE without backtracking. `%` matches any run of characters, `_` exactly one character
 * (a code point), and a backslash makes the next character literal (a trailing backslash is
 * itself literal). ILIKE compares characters lowercased one by one, as PostgreSQL does.
 *
 * The pattern is cut at its `%`s into segments of fixed length. The first segment must start
 * the text and the last must end it; every segment between is taken at its leftmost occurrence
 * after the one before, which never loses a match: the `%` before it absorbs whatever is
 * skipped, and the leftmost end leaves the most text for the rest. So each segment is searched
 * once, and a text of n characters and a pattern of m cost at most O(n·m), never the
 * exponential (or n^k for k `%`s) time a backtracking regular expression can take.
 */

/** Literal text, or a run of that many `_`. */
type Piece = string | number;
type Segment = Piece[];

/** Whether a text matches the pattern it was compiled from. */
export type LikeMatcher = (text: string) => boolean;

export function compileLike(pattern: string, caseInsensitive = false): LikeMatcher {
  const fold = caseInsensitive ? lowercaseEach : (text: string) => text;
  const segments = segmentsOf(pattern).map((segment) =>
    segment.map((piece) => (typeof piece === "string" ? fold(piece) : piece)),
  );
  const first = segments[0] as Segment;
  if (segments.length === 1) {
    return (text) => {
      const folded = fold(text);
      return matchForward(first, folded, 0) === folded.length;
    };
  }
  const middle = segments.slice(1, -1);
  const last = segments[segments.length - 1] as Segment;
  return (text) => {
    const folded = fold(text);
    let at = matchForward(first, folded, 0);
    for (let i = 0; at >= 0 && i < middle.length; i++) {
      at = findForward(middle[i] as Segment, folded, at);
    }
    return at >= 0 && matchBackward(last, folded, folded.length) >= at;
  };
}

/** The pattern's segments between `%`s (consecutive `%`s count as one). */
function segmentsOf(pattern: string): Segment[] {
  const segments: Segment[] = [];
  let pieces: Segment = [];
  let literal = "";
  let escaped = false;
  const endLiteral = () => {
    if (literal !== "") pieces.push(literal);
    literal = "";
  };
  for (const char of pattern) {
    if (escaped) {
      literal += char;
      escaped = false;
    } else if (char === "\\") {
      escaped = true;
    } else if (char === "_") {
      endLiteral();
      const previous = pieces[pieces.length - 1];
      if (typeof previous === "number") pieces[pieces.length - 1] = previous + 1;
      else pieces.push(1);
    } else if (char === "%") {
      endLiteral();
      if (pieces.length > 0 || segments.length === 0) segments.push(pieces);
      pieces = [];
    } else {
      literal += char;
    }
  }
  if (escaped) literal += "\\";
  endLiteral();
  segments.push(pieces);
  return segments;
}

/** Where the segment ends when it starts at `at`, or -1 when it does not match there. */
function matchForward(segment: Segment, text: string, at: number): number {
  let i = at;
  for (const piece of segment) {
    if (typeof piece === "string") {
      if (!text.startsWith(piece, i)) return -1;
      i += piece.length;
    } else {
      for (let n = piece; n > 0; n--) {
        if (i >= text.length) return -1;
        i += isPairAt(text, i) ? 2 : 1;
      }
    }
  }
  return i;
}

/** Where the segment starts when it ends at `end`, or -1 when it does not match there. */
function matchBackward(segment: Segment, text: string, end: number): number {
  let i = end;
  for (let p = segment.length - 1; p >= 0; p--) {
    const piece = segment[p] as Piece;
    if (typeof piece === "string") {
      if (i < piece.length || !text.endsWith(piece, i)) return -1;
      i -= piece.length;
    } else {
      for (let n = piece; n > 0; n--) {
        if (i <= 0) return -1;
        i -= i >= 2 && isPairAt(text, i - 2) ? 2 : 1;
      }
    }
  }
  return i;
}

/** The end of the segment's leftmost occurrence at or after `from`, or -1. */
function findForward(segment: Segment, text: string, from: number): number {
  const head = segment[0];
  if (segment.length === 1 && typeof head === "string") {
    const found = text.indexOf(head, from);
    return found < 0 ? -1 : found + head.length;
  }
  for (let start = from; start <= text.length; start += isPairAt(text, start) ? 2 : 1) {
    // A segment that opens with text can only start where that text occurs.
    if (typeof head === "string") {
      start = text.indexOf(head, start);
      if (start < 0) return -1;
    }
    const end = matchForward(segment, text, start);
    if (end >= 0) return end;
  }
  return -1;
}

/** Whether a surrogate pair (one character of two UTF-16 units) starts at `i`. */
function isPairAt(text: string, i: number): boolean {
  const unit = text.charCodeAt(i);
  if (unit < 0xd800 || unit > 0xdbff) return false;
  const next = text.charCodeAt(i + 1);
  return next >= 0xdc00 && next <= 0xdfff;
}

/**
 * Each character lowercased on its own, so lengths in characters stay put (`İ`, whose
 * lowercase is two characters, stays as it is).
 */
function lowercaseEach(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
  if (ascii) return text.toLowerCase();
  let out = "";
  for (const char of text) {
    const lower = char.toLowerCase();
    const oneCharacter = lower.length === ((lower.codePointAt(0) as number) > 0xffff ? 2 : 1);
    out += oneCharacter ? lower : char;
  }
  return out;
}
