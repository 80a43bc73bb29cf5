/**
 * One move of one lifecycle table's old rows from hot to cold, as an XState machine. It holds no
 * I/O: saving its progress (`persist`) and every act on the databases are actors the lifecycle
 * provides, so the machine runs in tests with stand-ins on a simulated clock.
 *
 *   planning ─► copying (each pending day) ─► verifying (each copied day) ─┬► committing ─► grace
 *                  ▲                                  mismatch: day pending ┘        (graceMs after
 *                  └───────────────────────────────────────────────────────┘         the commit)
 *   grace ─► deleting (each day: delete, or copy again as a replacement and delete) ─► expiring
 *   expiring ─► done
 *   each act: saved first; a retryable error retried after a backoff, another one ─► failed
 *   any save refused (the lease is someone else's now) ─► lost
 *
 * Progress is saved before each act, so a worker that dies mid-act leaves a record saying which
 * act was under way: the next owner runs it again. Every act is safe to run again: each copy
 * attempt writes files of names of its own (a nonce saved before it), the commit finds itself in
 * the cold table's snapshots, a delete compares hot with cold before it deletes and leaves a
 * marker in hot that a retry finds. A move also sweeps hot rows found below the watermark.
 */
import type { TierMoveProgress, TierMoveState } from "@entente/protocol";
import { assign, fromPromise, setup } from "xstate";

/** A written cold file, as the cold store describes it (kept opaque here). */
export interface MovedFile {
  path: string;
  rowCount: number;
  [key: string]: unknown;
}

export type DayStatus = "pending" | "copied" | "verified" | "deleting" | "deleted";

export interface DayProgress {
  /** `YYYY-MM-DD`: the rows `column >= day AND column < day + 1`. */
  day: string;
  status: DayStatus;
  /** The files the last copy wrote (before the commit), or that replaced the day's (after). */
  files: MovedFile[];
  /**
   * A sweep, not a day: every hot row below this watermark (written there directly, or racing a
   * day's delete), moved with the move's days; `day` is then a label, `below-YYYY-MM-DD`.
   */
  below?: string;
  /** The nonce of the copy under way or last made: part of its files' names, new per attempt. */
  nonce?: string;
  /** Rows verified in cold for the day. */
  rows: number;
  /** Copies made of the day before the commit (a verify mismatch makes another). */
  copies: number;
  /** Delete attempts: each may copy the day again under a name of its own. */
  deletes: number;
  /** Rows deleted from hot. */
  deleted: number;
  /** Rows that arrived in hot after the copy and went to cold by a replacement. */
  replacedRows?: number;
}

/** What a move is and how far it got: the part of the stored record the machine owns. */
export interface MoveData {
  id: string;
  /** The logical table. */
  table: string;
  /** Type of the tier column: how the watermark is written. */
  columnType: "date" | "timestamp";
  state: TierMoveState;
  /** The watermark before the move (ISO text), null before any. */
  from: string | null;
  /** The watermark the move commits (ISO text). */
  to: string;
  days: DayProgress[];
  /** When the cold snapshot was committed (ms since the epoch). */
  committedAt?: number;
  /** Attempts of the act under way (reset by each act done). */
  attempts: number;
  /** The phase a failed move failed in. */
  failedIn?: TierMoveState;
  error?: string;
  /** The last retryable error, while retrying. */
  lastError?: string;
  expired?: { removedRows: number; removedFiles: number };
  /** Times this move was taken up again after failing past its commit (backed off between). */
  resumes?: number;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
}

export interface MovePolicy {
  /** Attempts of one act before a retryable error fails the move. */
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Copies of one day a verify mismatch may ask for before the move fails. */
  maxCopies: number;
  /** Most days one move takes; the next move goes on from its watermark. */
  maxDays: number;
}

export const DEFAULT_MOVE_POLICY: MovePolicy = {
  maxAttempts: 5,
  backoffMs: 1_000,
  maxBackoffMs: 60_000,
  maxCopies: 3,
  maxDays: 31,
};

export interface MoveMachineInput {
  move: MoveData;
  policy: MovePolicy;
  /** Wait between the commit and the first hot delete. */
  graceMs: number;
  /** Cold rows older than this many days (from midnight UTC today) are expired. */
  coldRetentionDays: number;
  /** The clock of the timestamps recorded and of the grace (the actor's clock in tests). */
  now: () => number;
  /** A fresh nonce for a copy's file names (random by default). */
  nonce?: () => string;
}

type MoveContext = MoveMachineInput;

export interface PlanInput {
  move: MoveData;
}
export interface PlanOutput {
  /** The cold table's watermark now (ISO text), null before any move. */
  watermark: string | null;
  /** The day of the hot table's smallest tier value; null when it is empty. */
  firstDay: string | null;
  /** Hot rows below the watermark: swept into cold by this move. */
  strays?: number;
}
export interface CopyInput {
  moveId: string;
  day: string;
  /** A sweep of the rows below this watermark rather than a day. */
  below?: string | undefined;
  /** Which copy of the day (0 first). */
  copy: number;
  /** This attempt's nonce, saved in the move before the copy: part of the files' names. */
  nonce: string;
  /** No day left to copy after this one. */
  last: boolean;
}
export interface CopyOutput {
  files: MovedFile[];
}
export interface VerifyInput {
  moveId: string;
  day: string;
  /** A sweep of the rows below this watermark rather than a day. */
  below?: string | undefined;
  files: MovedFile[];
  last: boolean;
}
export interface VerifyOutput {
  ok: boolean;
  hotRows: number;
  coldRows: number;
  hotChecksum: string;
  coldChecksum: string;
}
export interface CommitInput {
  move: MoveData;
  files: MovedFile[];
  watermark: string;
}
export interface CommitOutput {
  /** When the snapshot was committed (this time or by an earlier attempt). */
  committedAt: number;
}
export interface DeleteInput {
  moveId: string;
  day: string;
  /** A sweep of the rows below this watermark rather than a day. */
  below?: string | undefined;
  /** Rows the commit put in cold for the day. */
  rows: number;
  /** The files that hold them. */
  files: MovedFile[];
  /** Which attempt (1 first): part of a replacement's file names. */
  attempt: number;
  first: boolean;
}
export interface DeleteOutput {
  deleted: number;
  /** Rows had arrived since the copy: the day's cold files were replaced by these. */
  replaced?: { files: MovedFile[]; rows: number };
}
export interface ExpireInput {
  moveId: string;
  /** Cold rows below this day (`YYYY-MM-DD`) go. */
  before: string;
}
export interface ExpireOutput {
  removedRows: number;
  removedFiles: number;
}

const DAY_MS = 86_400_000;

const randomNonce = (): string =>
  Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, "0");

/** `YYYY-MM-DD` of a time, UTC. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function dayMs(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

export function addDays(day: string, n: number): string {
  return dayOf(dayMs(day) + n * DAY_MS);
}

/** Midnight UTC today minus `days`, as a day. */
export function daysAgo(now: number, days: number): string {
  return addDays(dayOf(now), -days);
}

/** The watermark text of a day boundary in the column's type. */
export function watermarkText(day: string, columnType: "date" | "timestamp"): string {
  return columnType === "date" ? day : `${day}T00:00:00.000Z`;
}

/** The day a watermark text stands for. */
export function watermarkDay(watermark: string): string {
  return watermark.slice(0, 10);
}

/** The days from `first` up to (not including) `target`, at most `max`. */
export function daysBetween(first: string, target: string, max: number): string[] {
  const out: string[] = [];
  for (let d = first; d < target && out.length < max; d = addDays(d, 1)) out.push(d);
  return out;
}

/** A new move towards the watermark of `hotRetentionDays` before today. */
export function newMove(options: {
  id: string;
  table: string;
  columnType: "date" | "timestamp";
  hotRetentionDays: number;
  now: number;
}): MoveData {
  return {
    id: options.id,
    table: options.table,
    columnType: options.columnType,
    state: "planning",
    from: null,
    to: watermarkText(daysAgo(options.now, options.hotRetentionDays), options.columnType),
    days: [],
    attempts: 0,
    startedAt: options.now,
    updatedAt: options.now,
  };
}

/** The pause before attempt `attempt + 1`: doubling from `backoffMs`, capped. */
export function backoffDelay(policy: MovePolicy, attempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
}

export const isFinalMove = (state: TierMoveState): boolean =>
  state === "done" || state === "failed";

/** A move as the contract reports it. */
export function progressOf(move: MoveData): TierMoveProgress {
  const count = (ok: (s: DayStatus) => boolean) => move.days.filter((d) => ok(d.status)).length;
  return {
    id: move.id,
    state: move.state,
    from: move.from,
    to: move.to,
    partitions: move.days.length,
    copied: count((s) => s !== "pending"),
    verified: count((s) => s !== "pending" && s !== "copied"),
    deleted: count((s) => s === "deleted"),
    rows: move.days.reduce((sum, d) => sum + d.rows, 0),
    startedAt: new Date(move.startedAt).toISOString(),
    ...(move.finishedAt !== undefined
      ? { finishedAt: new Date(move.finishedAt).toISOString() }
      : {}),
    ...(move.error !== undefined ? { error: move.error } : {}),
  };
}

const messageOf = (error: unknown): string =>
  error instanceof Error && error.message !== "" ? error.message : String(error ?? "failed");

const errorOf = (event: unknown): unknown => (event as { error?: unknown }).error;
const outputOf = <T>(event: unknown): T => (event as { output: T }).output;

const isRetryable = (error: unknown): boolean =>
  (error as { retryable?: unknown } | undefined)?.retryable === true;

const firstWith = (move: MoveData, ...statuses: DayStatus[]): DayProgress | undefined =>
  move.days.find((d) => statuses.includes(d.status));

const withDay = (
  move: MoveData,
  day: string,
  change: (d: DayProgress) => DayProgress,
): DayProgress[] => move.days.map((d) => (d.day === day ? change(d) : d));

function current(move: MoveData, ...statuses: DayStatus[]): DayProgress {
  const day = firstWith(move, ...statuses);
  if (!day) throw new Error(`move ${move.id}: no day ${statuses.join("/")}`);
  return day;
}

const stamp = (move: MoveData, now: () => number, change: Partial<MoveData>): MoveData => ({
  ...move,
  ...change,
  updatedAt: now(),
});

const moveSetup = setup({
  types: {
    context: {} as MoveContext,
    input: {} as MoveMachineInput,
    output: {} as MoveData,
  },
  actors: {
    /** Saves the move (renewing the lease); rejects when this worker no longer holds it. */
    persist: fromPromise<void, { move: MoveData }>(async () => {
      throw new Error("persist is provided by the lifecycle");
    }),
    plan: fromPromise<PlanOutput, PlanInput>(async () => {
      throw new Error("plan is provided by the lifecycle");
    }),
    copyDay: fromPromise<CopyOutput, CopyInput>(async () => {
      throw new Error("copyDay is provided by the lifecycle");
    }),
    verifyDay: fromPromise<VerifyOutput, VerifyInput>(async () => {
      throw new Error("verifyDay is provided by the lifecycle");
    }),
    commit: fromPromise<CommitOutput, CommitInput>(async () => {
      throw new Error("commit is provided by the lifecycle");
    }),
    deleteDay: fromPromise<DeleteOutput, DeleteInput>(async () => {
      throw new Error("deleteDay is provided by the lifecycle");
    }),
    expire: fromPromise<ExpireOutput, ExpireInput>(async () => {
      throw new Error("expire is provided by the lifecycle");
    }),
  },
  delays: {
    backoff: ({ context }) => backoffDelay(context.policy, context.move.attempts),
    graceLeft: ({ context }) =>
      Math.max(0, (context.move.committedAt ?? 0) + context.graceMs - context.now()),
  },
  guards: {
    isIn: ({ context }, params: { state: TierMoveState }) => context.move.state === params.state,
    mayRetry: ({ context, event }) =>
      isRetryable(errorOf(event)) && context.move.attempts < context.policy.maxAttempts,
    nothingToMove: ({ context }) => context.move.days.length === 0,
    noneToCopy: ({ context }) => firstWith(context.move, "pending") === undefined,
    noneToVerify: ({ context }) => firstWith(context.move, "copied") === undefined,
    someToCopyAgain: ({ context }) => firstWith(context.move, "pending") !== undefined,
    noneToDelete: ({ context }) => firstWith(context.move, "verified", "deleting") === undefined,
    copiesLeft: ({ context }) => current(context.move, "copied").copies < context.policy.maxCopies,
    verifiedOk: ({ event }) => outputOf<VerifyOutput>(event).ok,
  },
  actions: {
    enter: assign({
      move: ({ context: { move, now } }, params: { state: TierMoveState }) =>
        move.state === params.state ? move : stamp(move, now, { state: params.state }),
    }),
    startAct: assign({
      move: ({ context: { move, now } }) => stamp(move, now, { attempts: move.attempts + 1 }),
    }),
    /** Each copy attempt writes files of names of its own, recorded before it starts. */
    startCopy: assign({
      move: ({ context: { move, now, nonce } }) => {
        const day = current(move, "pending");
        const next = (nonce ?? randomNonce)();
        return stamp(move, now, {
          attempts: move.attempts + 1,
          days: withDay(move, day.day, (d) => ({ ...d, nonce: next })),
        });
      },
    }),
    planned: assign({
      move: ({ context: { move, now, policy }, event }) => {
        const { watermark, firstDay, strays } = outputOf<PlanOutput>(event);
        const target = watermarkDay(move.to);
        const start = watermark !== null ? watermarkDay(watermark) : firstDay;
        const days = start === null ? [] : daysBetween(start, target, policy.maxDays);
        const last = days.at(-1);
        const sweep = watermark !== null && (strays ?? 0) > 0;
        const unit = (day: string): DayProgress => ({
          day,
          status: "pending",
          files: [],
          rows: 0,
          copies: 0,
          deletes: 0,
          deleted: 0,
        });
        return stamp(move, now, {
          attempts: 0,
          from: watermark,
          // A capped move stops at the day after its last; the next move goes on from there. A
          // move that only sweeps keeps the watermark where it is.
          to:
            last !== undefined && addDays(last, 1) < target
              ? watermarkText(addDays(last, 1), move.columnType)
              : last === undefined && sweep && watermark !== null
                ? watermark
                : move.to,
          days: [
            ...(sweep && watermark !== null
              ? [{ ...unit(`below-${watermarkDay(watermark)}`), below: watermark }]
              : []),
            ...days.map(unit),
          ],
        });
      },
    }),
    copied: assign({
      move: ({ context: { move, now }, event }) => {
        const { files } = outputOf<CopyOutput>(event);
        const day = current(move, "pending");
        return stamp(move, now, {
          attempts: 0,
          days: withDay(move, day.day, (d) => ({
            ...d,
            status: "copied",
            files,
            copies: d.copies + 1,
          })),
        });
      },
    }),
    verified: assign({
      move: ({ context: { move, now }, event }) => {
        const { coldRows } = outputOf<VerifyOutput>(event);
        const day = current(move, "copied");
        return stamp(move, now, {
          attempts: 0,
          days: withDay(move, day.day, (d) => ({ ...d, status: "verified", rows: coldRows })),
        });
      },
    }),
    /** The copy does not hold the day's hot rows (rows arrived or changed): copy it again. */
    copyAgain: assign({
      move: ({ context: { move, now }, event }) => {
        const out = outputOf<VerifyOutput>(event);
        const day = current(move, "copied");
        return stamp(move, now, {
          attempts: 0,
          lastError: `day ${day.day}: hot has ${out.hotRows} rows (checksum ${out.hotChecksum}), the copy ${out.coldRows} (${out.coldChecksum})`,
          days: withDay(move, day.day, (d) => ({ ...d, status: "pending" })),
        });
      },
    }),
    copiesExhausted: assign({
      move: ({ context: { move, now }, event }) => {
        const out = outputOf<VerifyOutput>(event);
        const day = current(move, "copied");
        return stamp(move, now, {
          failedIn: move.state,
          error: `day ${day.day} of ${move.table} still differs after ${day.copies} copies: hot has ${out.hotRows} rows (checksum ${out.hotChecksum}), cold ${out.coldRows} (${out.coldChecksum}); are rows of that day still being written?`,
        });
      },
    }),
    committed: assign({
      move: ({ context: { move, now }, event }) =>
        stamp(move, now, { attempts: 0, committedAt: outputOf<CommitOutput>(event).committedAt }),
    }),
    startDelete: assign({
      move: ({ context: { move, now } }) => {
        const day = current(move, "verified", "deleting");
        return stamp(move, now, {
          attempts: move.attempts + 1,
          days: withDay(move, day.day, (d) => ({
            ...d,
            status: "deleting",
            deletes: d.deletes + 1,
          })),
        });
      },
    }),
    deleted: assign({
      move: ({ context: { move, now }, event }) => {
        const out = outputOf<DeleteOutput>(event);
        const day = current(move, "deleting");
        return stamp(move, now, {
          attempts: 0,
          days: withDay(move, day.day, (d) => ({
            ...d,
            status: "deleted",
            deleted: d.deleted + out.deleted,
            ...(out.replaced
              ? {
                  files: out.replaced.files,
                  replacedRows: out.replaced.rows - d.rows,
                  rows: out.replaced.rows,
                }
              : {}),
          })),
        });
      },
    }),
    expired: assign({
      move: ({ context: { move, now }, event }) =>
        stamp(move, now, { attempts: 0, expired: outputOf<ExpireOutput>(event) }),
    }),
    noteRetry: assign({
      move: ({ context: { move, now }, event }) =>
        stamp(move, now, { lastError: messageOf(errorOf(event)) }),
    }),
    noteFailure: assign({
      move: ({ context: { move, now }, event }) =>
        stamp(move, now, {
          failedIn: move.state,
          error: `${move.state}: ${messageOf(errorOf(event))}${move.attempts > 1 ? ` (after ${move.attempts} attempts)` : ""}`,
        }),
    }),
    markDone: assign({
      move: ({ context: { move, now } }) => {
        const { lastError: _, ...rest } = move;
        return {
          ...rest,
          state: "done" as const,
          attempts: 0,
          updatedAt: now(),
          finishedAt: now(),
        };
      },
    }),
    markFailed: assign({
      move: ({ context: { move, now } }) => ({
        ...move,
        state: "failed" as const,
        updatedAt: now(),
        finishedAt: now(),
      }),
    }),
  },
});

type StateConfig = Parameters<typeof moveSetup.createStateConfig>[0];
type Invoke = Extract<NonNullable<StateConfig["invoke"]>, { src: unknown }>;
/** Omits per member, so that an act's `src` still picks the type of its `input` and output. */
type WithoutOnError<T> = T extends unknown ? Omit<T, "onError"> : never;
type Act = WithoutOnError<Invoke>;

/** Saves the move; a refused save means another worker holds it now. */
const save = (onError: string, onDone?: string) =>
  ({
    src: "persist",
    input: ({ context }: { context: MoveContext }) => ({ move: context.move }),
    ...(onDone !== undefined ? { onDone } : {}),
    onError,
  }) as const;

/**
 * A phase of acts, each saved before it runs (`start` counts the attempt) so a new owner knows
 * which act was under way; a retryable error is saved and retried after the backoff, another
 * fails the move. A phase with `next` picks its next act there and returns to it after each.
 * Saved moves resume by phase name (`state`) and tests read the child names: keep both.
 */
function phase(options: {
  state: TierMoveState;
  start: "startAct" | "startCopy" | "startDelete";
  act: Act;
  next?: StateConfig["always"];
}): StateConfig {
  const { state, start, act, next } = options;
  return {
    entry: { type: "enter", params: { state } },
    initial: next === undefined ? "saving" : "next",
    states: {
      ...(next === undefined ? {} : { next: { always: next } }),
      saving: { entry: start, invoke: save("#move.lost", "acting") },
      acting: {
        invoke: {
          ...act,
          onError: [
            { guard: "mayRetry", target: "retrying", actions: "noteRetry" },
            { target: "#move.failing", actions: "noteFailure" },
          ],
        },
      },
      retrying: { invoke: save("#move.lost"), after: { backoff: "saving" } },
    },
  };
}

export const moveMachine = moveSetup.createMachine({
  id: "move",
  context: ({ input }) => ({ ...input }),
  initial: "resuming",
  output: ({ context }) => context.move,
  states: {
    /** A new move and one resumed from its record both start here. */
    resuming: {
      always: [
        { guard: { type: "isIn", params: { state: "done" } }, target: "done" },
        { guard: { type: "isIn", params: { state: "failed" } }, target: "failed" },
        { guard: { type: "isIn", params: { state: "copying" } }, target: "copying" },
        { guard: { type: "isIn", params: { state: "verifying" } }, target: "verifying" },
        { guard: { type: "isIn", params: { state: "committing" } }, target: "committing" },
        { guard: { type: "isIn", params: { state: "grace" } }, target: "grace" },
        { guard: { type: "isIn", params: { state: "deleting" } }, target: "deleting" },
        { guard: { type: "isIn", params: { state: "expiring" } }, target: "expiring" },
        { target: "planning" },
      ],
    },
    planning: phase({
      state: "planning",
      start: "startAct",
      act: {
        src: "plan",
        input: ({ context }) => ({ move: context.move }),
        onDone: [{ target: "#move.copying", actions: "planned" }],
      },
    }),
    copying: phase({
      state: "copying",
      start: "startCopy",
      next: [
        { guard: "nothingToMove", target: "#move.expiring" },
        { guard: "noneToCopy", target: "#move.verifying" },
        { target: "saving" },
      ],
      act: {
        src: "copyDay",
        input: ({ context: { move } }) => {
          const day = current(move, "pending");
          return {
            moveId: move.id,
            day: day.day,
            below: day.below,
            copy: day.copies,
            nonce: day.nonce ?? `c${day.copies}`,
            last: move.days.filter((d) => d.status === "pending").length === 1,
          };
        },
        onDone: { target: "next", actions: "copied" },
      },
    }),
    verifying: phase({
      state: "verifying",
      start: "startAct",
      next: [
        { guard: "someToCopyAgain", target: "#move.copying" },
        { guard: "noneToVerify", target: "#move.committing" },
        { target: "saving" },
      ],
      act: {
        src: "verifyDay",
        input: ({ context: { move } }) => {
          const day = current(move, "copied");
          return {
            moveId: move.id,
            day: day.day,
            below: day.below,
            files: day.files,
            last: move.days.filter((d) => d.status === "copied").length === 1,
          };
        },
        onDone: [
          { guard: "verifiedOk", target: "next", actions: "verified" },
          { guard: "copiesLeft", target: "next", actions: "copyAgain" },
          { target: "#move.failing", actions: "copiesExhausted" },
        ],
      },
    }),
    committing: phase({
      state: "committing",
      start: "startAct",
      act: {
        src: "commit",
        input: ({ context: { move } }) => ({
          move,
          files: move.days.flatMap((d) => d.files),
          watermark: move.to,
        }),
        onDone: { target: "#move.grace", actions: "committed" },
      },
    }),
    /** Statements planned before the commit still read the moved rows from hot meanwhile. */
    grace: {
      entry: { type: "enter", params: { state: "grace" } },
      initial: "saving",
      states: {
        saving: { invoke: save("#move.lost", "waiting") },
        waiting: { after: { graceLeft: "#move.deleting" } },
      },
    },
    deleting: phase({
      state: "deleting",
      start: "startDelete",
      next: [{ guard: "noneToDelete", target: "#move.expiring" }, { target: "saving" }],
      act: {
        src: "deleteDay",
        input: ({ context: { move } }) => {
          const day = current(move, "deleting");
          return {
            moveId: move.id,
            day: day.day,
            below: day.below,
            rows: day.rows,
            files: day.files,
            attempt: day.deletes,
            first: !move.days.some((d) => d.status === "deleted"),
          };
        },
        onDone: { target: "next", actions: "deleted" },
      },
    }),
    expiring: phase({
      state: "expiring",
      start: "startAct",
      act: {
        src: "expire",
        input: ({ context: { move, now, coldRetentionDays } }) => ({
          moveId: move.id,
          before: daysAgo(now(), coldRetentionDays),
        }),
        onDone: { target: "#move.finishing", actions: "expired" },
      },
    }),
    finishing: { entry: "markDone", invoke: save("lost", "done") },
    failing: { entry: "markFailed", invoke: save("lost", "failed") },
    done: { type: "final" },
    /** The error says where and why; a move failed after its commit is taken up again. */
    failed: { type: "final" },
    /** Another worker holds the move now (or the store is gone): this one stops touching it. */
    lost: { type: "final" },
  },
});
