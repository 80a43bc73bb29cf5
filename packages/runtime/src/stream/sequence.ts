import { EntenteError } from "@entente/protocol";

/**
 * Checks batch sequence numbers, without I/O or clocks. Batches must arrive as 0, 1, 2, ….
 * A batch ahead of its turn is held: if the missing one then arrives, the stream was reordered
 * (STREAM_OUT_OF_ORDER); if anything else arrives, or the caller's grace period ends first, the
 * missing batch was lost (STREAM_GAP). A number already taken or held is a repeat: the caller
 * decides what it means (an authenticated batch repeats the original byte for byte, so it is
 * dropped; anyone reading the inbox can replay one).
 */

export type SequenceVerdict =
  | { kind: "deliver" }
  | { kind: "hold" }
  | { kind: "repeat" }
  | { kind: "fail"; error: EntenteError };

export class SequenceChecker {
  #expected = 0;
  #ahead: number | undefined;

  /** The next sequence number the stream needs. */
  get expected(): number {
    return this.#expected;
  }

  /** True while a batch ahead of its turn waits for the missing one. */
  get holding(): boolean {
    return this.#ahead !== undefined;
  }

  observe(seq: number): SequenceVerdict {
    const expected = this.#expected;
    const ahead = this.#ahead;
    if (seq < expected || seq === ahead) return { kind: "repeat" };
    if (ahead !== undefined) {
      if (seq === expected) {
        return fail(
          "STREAM_OUT_OF_ORDER",
          `batch ${expected} arrived after batch ${ahead}`,
          expected,
          ahead,
        );
      }
      return this.gap();
    }
    if (seq === expected) {
      this.#expected++;
      return { kind: "deliver" };
    }
    this.#ahead = seq;
    return { kind: "hold" };
  }

  /** The grace period for a held batch ended without the missing one. */
  gap(): SequenceVerdict & { kind: "fail" } {
    const got = this.#ahead ?? this.#expected;
    return fail(
      "STREAM_GAP",
      `batch ${this.#expected} is missing (batch ${got} arrived in its place)`,
      this.#expected,
      got,
    );
  }
}

function fail(
  code: string,
  message: string,
  expected: number,
  got: number,
): SequenceVerdict & { kind: "fail" } {
  return { kind: "fail", error: new EntenteError(code, message, { details: { expected, got } }) };
}
