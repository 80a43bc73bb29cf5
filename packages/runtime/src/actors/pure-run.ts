import { type AnyActorLogic, type AnyActorScope, createActor, type InputFrom } from "xstate";

/**
 * Runs a logic's initial transition purely, without an actor: what XState's `initialTransition`
 * does, minus the actor and system it builds on every call, which cost more than the machine
 * itself. The scope is built once per logic and reused, since the run is synchronous.
 */

export type Settled = { ok: true; output: unknown } | { ok: false; error: unknown };

interface PureScope {
  scope: AnyActorScope;
  /** Effects the transition asked for; any at all means a live actor must run it. */
  effects: number;
}

const scopes = new WeakMap<AnyActorLogic, PureScope>();
/**
 * Machines (by their config, which `machine.provide()` keeps) that once needed a live actor;
 * a service that provides its actors per request then pays for the check only once.
 */
const needsActor = new WeakSet<object>();

/**
 * The outcome of a logic that settles in its initial transition — done with an output, or
 * failed — without invoking, spawning or executing anything. Undefined when it does not: run it
 * as an actor then, from the start.
 */
export function settleWithoutActor<TLogic extends AnyActorLogic>(
  logic: TLogic,
  input: InputFrom<TLogic>,
): Settled | undefined {
  const key = identityOf(logic);
  if (needsActor.has(key)) return undefined;
  const pure = scopeOf(logic);
  pure.effects = 0;
  const snapshot = logic.getInitialSnapshot(pure.scope, input) as {
    status: string;
    output?: unknown;
    error?: unknown;
    children?: Record<string, unknown>;
  };
  const settled =
    pure.effects === 0 && !hasChildren(snapshot.children)
      ? snapshot.status === "done"
        ? ({ ok: true, output: snapshot.output } as const)
        : snapshot.status === "error"
          ? ({ ok: false, error: snapshot.error } as const)
          : undefined
      : undefined;
  if (settled === undefined) {
    needsActor.add(key);
    scopes.delete(logic);
  }
  return settled;
}

function scopeOf(logic: AnyActorLogic): PureScope {
  let pure = scopes.get(logic);
  if (pure !== undefined) return pure;
  // Never started: it only lends `self` and its system to the machine's functions.
  const self = createActor(logic);
  const state: PureScope = { scope: undefined as unknown as AnyActorScope, effects: 0 };
  const effect = () => {
    state.effects++;
  };
  state.scope = {
    self,
    id: "",
    sessionId: "",
    system: self.system,
    logger: () => {},
    defer: effect,
    emit: effect,
    stopChild: effect,
    actionExecutor: effect,
  };
  pure = state;
  scopes.set(logic, pure);
  return pure;
}

function identityOf(logic: AnyActorLogic): object {
  const config = (logic as { config?: unknown }).config;
  return typeof config === "object" && config !== null ? config : logic;
}

function hasChildren(children: Record<string, unknown> | undefined): boolean {
  if (children === undefined) return false;
  for (const _ in children) return true;
  return false;
}
