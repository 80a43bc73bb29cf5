import { Match, type MsgHdrs } from "@nats-io/nats-core";

/**
 * Headers for messages this process publishes. nats.js only ever calls `encode()` on the headers
 * of a message it sends, and its own implementation re-validates and re-canonicalises every name
 * on each `set` and encodes through a TextEncoder: a third of the header cost of a small request.
 * These keep the same rules (names of printable ASCII without ':', values without line breaks,
 * the three matching modes) with plain arrays and one encode.
 */
export class WireHeaders implements MsgHdrs {
  code = 0;
  description = "";
  /** One entry per value, in the order appended: a name appended twice has two entries. */
  readonly #names: string[] = [];
  readonly #values: string[] = [];

  get hasError(): boolean {
    return this.code >= 300;
  }

  get status(): string {
    return `${this.code} ${this.description}`.trim();
  }

  get(k: string, match: Match = Match.Exact): string {
    const i = this.#indexOf(k, match, 0);
    return i < 0 ? "" : (this.#values[i] as string);
  }

  last(k: string, match: Match = Match.Exact): string {
    let found = "";
    for (let i = this.#indexOf(k, match, 0); i >= 0; i = this.#indexOf(k, match, i + 1)) {
      found = this.#values[i] as string;
    }
    return found;
  }

  has(k: string, match: Match = Match.Exact): boolean {
    return this.#indexOf(k, match, 0) >= 0;
  }

  values(k: string, match: Match = Match.Exact): string[] {
    const found: string[] = [];
    for (let i = this.#indexOf(k, match, 0); i >= 0; i = this.#indexOf(k, match, i + 1)) {
      found.push(this.#values[i] as string);
    }
    return found;
  }

  set(k: string, v: string, match: Match = Match.Exact): void {
    this.delete(k, match);
    this.append(k, v, match);
  }

  append(k: string, v: string, match: Match = Match.Exact): void {
    checkName(k);
    if (/[\r\n]/.test(v)) throw new TypeError("header values cannot contain \\r or \\n");
    // Like nats.js: an existing name that matches keeps its spelling.
    const existing = this.#indexOf(k, match, 0);
    const name =
      existing >= 0
        ? (this.#names[existing] as string)
        : match === Match.CanonicalMIME
          ? canonical(k)
          : k;
    this.#names.push(name);
    this.#values.push(v.trim());
  }

  delete(k: string, match: Match = Match.Exact): void {
    for (let i = this.#names.length - 1; i >= 0; i--) {
      if (matches(this.#names[i] as string, k, match)) {
        this.#names.splice(i, 1);
        this.#values.splice(i, 1);
      }
    }
  }

  keys(): string[] {
    return [...new Set(this.#names)];
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const name of this.keys()) yield [name, this.values(name)];
  }

  toString(): string {
    if (this.#names.length === 0 && this.code === 0) return "";
    let text = "NATS/1.0";
    if (this.code > 0 && this.description !== "") text += ` ${this.code} ${this.description}`;
    for (let i = 0; i < this.#names.length; i++) {
      text += `\r\n${this.#names[i]}: ${this.#values[i]}`;
    }
    return `${text}\r\n\r\n`;
  }

  encode(): Uint8Array {
    return Buffer.from(this.toString(), "utf8");
  }

  #indexOf(k: string, match: Match, from: number): number {
    const names = this.#names;
    if (match === Match.Exact) {
      for (let i = from; i < names.length; i++) if (names[i] === k) return i;
      return -1;
    }
    for (let i = from; i < names.length; i++) if (matches(names[i] as string, k, match)) return i;
    return -1;
  }
}

/** Empty headers to publish with. */
export function wireHeaders(): WireHeaders {
  return new WireHeaders();
}

function matches(name: string, k: string, match: Match): boolean {
  switch (match) {
    case Match.Exact:
      return name === k;
    case Match.CanonicalMIME:
      return name === canonical(k);
    default:
      return name.length === k.length && name.toLowerCase() === k.toLowerCase();
  }
}

const COLON = 58;

/** The characters the NATS header format allows in a name: printable ASCII but ':'. */
function checkName(k: string): void {
  if (k.length === 0) throw new TypeError("a header name cannot be empty");
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c === COLON || c < 33 || c > 126) {
      throw new TypeError(`'${k[i]}' is not a valid character in a header name`);
    }
  }
}

/** `content-type` → `Content-Type`, as Go's textproto (and nats.js) canonicalise. */
function canonical(k: string): string {
  let out = "";
  let upper = true;
  for (let i = 0; i < k.length; i++) {
    const ch = k[i] as string;
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === "-";
  }
  return out;
}
