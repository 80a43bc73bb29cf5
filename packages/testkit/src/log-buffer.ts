import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

export type LineListener = (line: string) => void;

/**
 * The last lines a server printed. Kept so that a failed start or a failing test can show
 * what the server said, without keeping unbounded output in memory.
 */
export class LogBuffer {
  readonly limit: number;
  #lines: string[] = [];
  #listeners = new Set<LineListener>();

  constructor(limit = 200) {
    this.limit = limit;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.limit) this.#lines.splice(0, this.#lines.length - this.limit);
    for (const listener of this.#listeners) listener(line);
  }

  /** Feeds every line of `stream` into the buffer. */
  follow(stream: Readable, prefix = ""): void {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", (line) => this.push(prefix + line));
  }

  lines(): string[] {
    return [...this.#lines];
  }

  /** The last `count` lines as one block of text. */
  tail(count = 40): string {
    return this.#lines.slice(-count).join("\n");
  }

  /** Calls `listener` for each new line; returns a function that stops it. */
  onLine(listener: LineListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
