/**
 * What a link's NATS subjects must look like, checked when a definition is added: the same
 * mistakes JetStream would refuse later (overlapping or duplicate buffer subjects, a `>` before
 * the last word, subjects of the server's own APIs) are answered at once, naming the subject.
 * Pure: each check returns what is wrong, or undefined.
 */

/** A control line holds the subject; far below the server's limit, far above any real subject. */
export const MAX_SUBJECT_LENGTH = 1024;

/** A word that is exactly one of these is a wildcard; `*` or `>` inside a word is refused. */
const WILDCARDS = new Set(["*", ">"]);

function wordsProblem(subject: string): string | undefined {
  if (subject === "") return "give a subject (this one is empty)";
  if (subject.length > MAX_SUBJECT_LENGTH) {
    return `a subject has at most ${MAX_SUBJECT_LENGTH} characters`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\u0000-\u001f\u007f]/.test(subject)) {
    return `${JSON.stringify(subject)}: a subject has no spaces or control characters`;
  }
  if (subject.split(".").includes("")) {
    return `${JSON.stringify(subject)}: a subject has no empty words (leading, trailing or double dots)`;
  }
  return undefined;
}

/** A subject a link publishes to (a prefix): words, no wildcards. */
export function publishSubjectProblem(subject: string): string | undefined {
  const problem = wordsProblem(subject);
  if (problem !== undefined) return problem;
  if (/[*>]/.test(subject)) {
    return `${JSON.stringify(subject)}: a subject messages are published to has no '*' or '>'`;
  }
  return undefined;
}

/** A subject a link reads (a filter): wildcards are whole words, `>` only the last one. */
export function filterSubjectProblem(subject: string): string | undefined {
  const problem = wordsProblem(subject);
  if (problem !== undefined) return problem;
  const shown = JSON.stringify(subject);
  const words = subject.split(".");
  for (const [index, word] of words.entries()) {
    if (!WILDCARDS.has(word) && /[*>]/.test(word)) {
      return `${shown}: '*' and '>' are whole words, not parts of one`;
    }
    if (word === ">" && index !== words.length - 1) {
      return `${shown}: '>' can only be the last word`;
    }
  }
  if (words[0]?.startsWith("$")) {
    return `${shown}: subjects starting with '$' belong to the server (JetStream, system, services)`;
  }
  return undefined;
}

/** Whether some subject matches both filters (word by word; `>` matches one word or more). */
export function filtersOverlap(a: string, b: string): boolean {
  const left = a.split(".");
  const right = b.split(".");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (x === undefined || y === undefined) return false;
    if (x === ">" || y === ">") return true;
    if (x !== y && x !== "*" && y !== "*") return false;
  }
  return true;
}

/**
 * A buffer stream's subjects: each a valid filter, none listed twice or overlapping another
 * (JetStream refuses both). The problem is reported at the index of the later subject. Quadratic
 * in the list's length, which the schema bounds.
 */
export function filterListProblems(subjects: readonly string[]): Array<[number, string]> {
  const problems: Array<[number, string]> = [];
  for (const [index, subject] of subjects.entries()) {
    const problem = filterSubjectProblem(subject);
    if (problem !== undefined) {
      problems.push([index, problem]);
      continue;
    }
    let earlier: string | undefined;
    for (let i = 0; i < index && earlier === undefined; i++) {
      const other = subjects[i] as string;
      if (filtersOverlap(other, subject)) earlier = other;
    }
    if (earlier === undefined) continue;
    problems.push([
      index,
      earlier === subject
        ? `${JSON.stringify(subject)} is listed twice`
        : `${JSON.stringify(subject)} overlaps ${JSON.stringify(earlier)}: one stream cannot hold both`,
    ]);
  }
  return problems;
}
