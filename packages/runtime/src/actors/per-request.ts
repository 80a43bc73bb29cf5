import { EntenteError, toEntenteError } from "@entente/protocol";
import {
  type AnyActorLogic,
  createActor,
  type InputFrom,
  type OutputFrom,
  toPromise,
} from "xstate";
import type { RequestContext } from "../service/types.ts";
import { settleWithoutActor } from "./pure-run.ts";

export interface PerRequestOptions<TLogic extends AnyActorLogic, Req, Res> {
  /** The actor's input, built from the validated request and its context. */
  input: (request: Req, context: RequestContext) => InputFrom<TLogic>;
  /** The reply, built from the actor's output (its final state's output). */
  reply?: (output: OutputFrom<TLogic>, request: Req) => Res;
}

/**
 * An endpoint handler that runs one actor per request: the actor starts with the request as
 * input, and its output is the reply. When the request's deadline passes or the caller cancels,
 * the actor is stopped, which cancels whatever it had invoked.
 *
 * A machine that reaches its final state at once, invoking and executing nothing, is answered
 * from its pure initial transition, synchronously, without a live actor: the same output for a
 * fraction of the cost. Any other run gets a live actor.
 */
export function perRequestActor<
  TLogic extends AnyActorLogic,
  Req = unknown,
  Res = OutputFrom<TLogic>,
>(
  logic: TLogic,
  options: PerRequestOptions<TLogic, Req, Res>,
): (request: Req, context: RequestContext) => Res | Promise<Res> {
  const answer = (output: OutputFrom<TLogic>, request: Req): Res =>
    options.reply ? options.reply(output, request) : (output as unknown as Res);
  return (request, context) => {
    const input = options.input(request, context);
    const settled = settleWithoutActor(logic, input);
    if (settled === undefined) return runActor(logic, input, context.signal, request, answer);
    if (!settled.ok) throw asEntenteError(settled.error);
    try {
      return answer(settled.output as OutputFrom<TLogic>, request);
    } catch (err) {
      throw asEntenteError(err);
    }
  };
}

async function runActor<TLogic extends AnyActorLogic, Req, Res>(
  logic: TLogic,
  input: InputFrom<TLogic>,
  signal: AbortSignal,
  request: Req,
  answer: (output: OutputFrom<TLogic>, request: Req) => Res,
): Promise<Res> {
  const actor = createActor(logic, { input });
  const stop = () => actor.stop();
  signal.addEventListener("abort", stop, { once: true });
  try {
    actor.start();
    const output = (await toPromise(actor)) as OutputFrom<TLogic>;
    return answer(output, request);
  } catch (err) {
    throw asEntenteError(err);
  } finally {
    signal.removeEventListener("abort", stop);
    actor.stop();
  }
}

/** toPromise rejects with whatever the actor failed with; give callers the error shape. */
function asEntenteError(err: unknown): EntenteError {
  return err instanceof EntenteError ? err : toEntenteError(err);
}
