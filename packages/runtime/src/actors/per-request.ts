import { EntenteError, toEntenteError } from "@entente/protocol";
import {
  type AnyActorLogic,
  createActor,
  type InputFrom,
  type OutputFrom,
  toPromise,
} from "xstate";
import type { RequestContext } from "../service/types.ts";

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
 */
export function perRequestActor<
  TLogic extends AnyActorLogic,
  Req = unknown,
  Res = OutputFrom<TLogic>,
>(
  logic: TLogic,
  options: PerRequestOptions<TLogic, Req, Res>,
): (request: Req, context: RequestContext) => Promise<Res> {
  return async (request, context) => {
    const actor = createActor(logic, { input: options.input(request, context) });
    const stop = () => actor.stop();
    context.signal.addEventListener("abort", stop, { once: true });
    try {
      actor.start();
      const output = (await toPromise(actor)) as OutputFrom<TLogic>;
      return options.reply ? options.reply(output, request) : (output as unknown as Res);
    } catch (err) {
      // toPromise rejects with whatever the actor failed with; give callers the error shape.
      throw err instanceof EntenteError ? err : toEntenteError(err);
    } finally {
      context.signal.removeEventListener("abort", stop);
      actor.stop();
    }
  };
}
