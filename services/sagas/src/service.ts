/**
 * The `sagas` service on `entente.saga`: sagas started (by configured name or sent whole),
 * looked up and listed. Each saga runs as a machine on the worker that holds its lease; a
 * periodic scan takes up the sagas whose owner's lease expired, so a saga whose worker died is
 * finished by another.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import {
  EntenteError,
  msgpackCodec,
  type SagaDefinition,
  type SagaListReply,
  type SagaRequest,
  type SagaStartReply,
  type SagaSummary,
  type SagaView,
  sagaRequestSchema,
} from "@entente/protocol";
import {
  configFingerprint,
  endpoint,
  type RequestContext,
  type ServiceDefinition,
} from "@entente/runtime";
import { nuid } from "@nats-io/nats-core";
import { type SagasSettings, sagasConfigSchema } from "./config.ts";
import { newSaga, summaryOf, viewOf } from "./records.ts";
import { SagaRunner } from "./runner.ts";
import { stepExecutor } from "./steps.ts";
import {
  isAbandoned,
  isFinal,
  notFound,
  SagaLease,
  type SagaRecord,
  SagaStore,
  takeOver,
} from "./store.ts";
import { startSagaSpan, traceparentOf } from "./tracing.ts";

/**
 * The largest definition taken, encoded: the saga's record holds it with every step's reply,
 * and the whole record must stay well under the NATS max payload to be saved at all.
 */
const MAX_DEFINITION_BYTES = 256 * 1024;

/** How often a start that waits reads again a saga running on another worker. */
const WAIT_POLL_MS = 250;
/** A start that waits answers at most this long before its deadline. */
const WAIT_MARGIN_MS = 500;

/** Waits for `promise`, or until `signal` aborts, whichever comes first; never rejects. */
function untilAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    void promise.then(done, done);
  });
}

function definitionOf(
  request: Extract<SagaRequest, { op: "start" }>,
  settings: SagasSettings,
): { definition: SagaDefinition; name?: string } {
  if (request.saga) {
    const bytes = msgpackCodec.encode(request.saga).length;
    if (bytes > MAX_DEFINITION_BYTES) {
      throw new EntenteError(
        "BAD_REQUEST",
        `saga: the definition is ${bytes} bytes encoded; at most ${MAX_DEFINITION_BYTES} are taken`,
      );
    }
    return { definition: request.saga };
  }
  const name = request.name ?? "";
  const definition = Object.hasOwn(settings.definitions, name)
    ? settings.definitions[name]
    : undefined;
  if (!definition) {
    const known = Object.keys(settings.definitions);
    throw new EntenteError(
      "BAD_REQUEST",
      `name: unknown saga "${name}" (${known.length > 0 ? `configured: ${known.join(", ")}` : "none is configured under sagas.definitions"})`,
    );
  }
  return { definition, name };
}

export const sagasService: ServiceDefinition = {
  name: "sagas",
  version: "0.1.0",
  description: "Sagas: steps across databases and services, compensated in reverse on failure",
  sections: { sagas: sagasConfigSchema },
  async start({ config, logger, subjects, client, nc }) {
    const settings = config.section("sagas", sagasConfigSchema);
    // Without JetStream the worker still starts (other services share it); sagas are refused
    // until the bucket can be opened.
    let opened: SagaStore | undefined;
    const storeOf = async (): Promise<SagaStore> => {
      try {
        opened ??= await SagaStore.open(nc, subjects.deployment);
        return opened;
      } catch (err) {
        throw new EntenteError(
          "UNAVAILABLE",
          `sagas need JetStream on the region's NATS server: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    };
    await storeOf().catch((err: unknown) => logger.warn({ err: String(err) }, "no saga store yet"));
    const owner = `${hostname()}-${process.pid}-${nuid.next()}`;
    const runner = new SagaRunner({
      execute: stepExecutor({
        client,
        subjects,
        stepTimeoutMs: settings.stepTimeoutMs,
        maxResultBytes: settings.maxResultBytes,
      }),
      leaseMs: settings.leaseMs,
      logger,
      policyOf: (saga) => ({
        maxAttempts: saga.definition.retry?.maxAttempts ?? settings.maxAttempts,
        backoffMs: saga.definition.retry?.backoffMs ?? settings.backoffMs,
        maxBackoffMs: saga.definition.retry?.maxBackoffMs ?? settings.maxBackoffMs,
      }),
    });
    const lease = { owner, leaseMs: settings.leaseMs };

    async function start(
      request: Extract<SagaRequest, { op: "start" }>,
      context: RequestContext,
    ): Promise<SagaStartReply> {
      const { definition, name } = definitionOf(request, settings);
      const store = await storeOf();
      const id = request.id ?? nuid.next();
      const saga = newSaga(id, definition, name);
      const span = startSagaSpan(saga, context.trace, false);
      const traceparent = traceparentOf(span.span);
      const sentAt = Date.now();
      const record: SagaRecord = {
        ...saga,
        owner,
        leaseUntil: sentAt + settings.leaseMs,
        ...(traceparent ? { traceparent } : {}),
      };
      const revision = await store.create(record).catch((err: unknown) => {
        span.span.end();
        throw err;
      });
      if (revision === undefined) {
        span.span.setAttribute("entente.saga.existing", true);
        span.span.end();
        return { saga: await waited(id, request.wait, context), existing: true };
      }
      runner.run(new SagaLease(store, { record, revision }, { ...lease, sentAt }), record, span);
      // Not waiting: the record just saved is the answer, with no read back.
      if (!request.wait) return { saga: viewOf(record), existing: false };
      return { saga: await waited(id, true, context), existing: false };
    }

    /**
     * The saga now, or once it has ended when asked to wait (at most until the deadline): the
     * end of its run here, else its record, read again until it is final.
     */
    async function waited(
      id: string,
      wait: boolean | undefined,
      context: RequestContext,
    ): Promise<SagaView> {
      const store = await storeOf();
      // Answer a little before the deadline, so the caller still gets the saga as it is.
      const margin = Math.min(WAIT_MARGIN_MS, context.deadline.remainingMs() / 10);
      const signal = AbortSignal.any([
        context.signal,
        AbortSignal.timeout(Math.max(0, Math.floor(context.deadline.remainingMs() - margin))),
      ]);
      for (;;) {
        const here = runner.done(id);
        if (wait && here) await untilAborted(here, signal);
        const held = await store.get(id);
        if (!held) throw notFound(id);
        if (!wait || isFinal(held.record.state) || signal.aborted) {
          return viewOf(held.record);
        }
        if (!runner.isRunning(id)) await untilAborted(sleep(WAIT_POLL_MS), signal);
      }
    }

    async function list(request: Extract<SagaRequest, { op: "list" }>): Promise<SagaListReply> {
      const store = await storeOf();
      const sagas: SagaSummary[] = [];
      for await (const { record } of store.all()) {
        if (request.state === undefined || record.state === request.state) {
          sagas.push(summaryOf(record));
        }
      }
      sagas.sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id));
      return { sagas: sagas.slice(0, request.limit ?? 1000) };
    }

    /** Takes up every saga whose owner's lease expired; several workers race, one wins each. */
    async function resumeAbandoned(): Promise<void> {
      const store = await storeOf();
      for await (const held of store.all()) {
        if (stopping) return;
        if (runner.isRunning(held.record.id) || !isAbandoned(held.record, Date.now())) continue;
        const taken = await takeOver(store, held, lease);
        if (!taken || stopping) {
          if (taken) await taken.release();
          continue;
        }
        logger.info(
          { saga: held.record.id, from: held.record.owner, state: held.record.state },
          "resuming an abandoned saga",
        );
        const span = startSagaSpan(held.record, held.record.traceparent, true);
        runner.run(taken, held.record, span);
      }
    }

    let stopping = false;
    let scanning: Promise<void> | undefined;
    let scanFailing = false;
    const scan = () => {
      scanning ??= resumeAbandoned()
        .then(() => {
          scanFailing = false;
        })
        .catch((err: unknown) => {
          // Said once per run of failures, not every scan.
          if (!scanFailing) logger.warn({ err: String(err) }, "saga resume scan failed");
          scanFailing = true;
        })
        .finally(() => {
          scanning = undefined;
        });
    };
    const timer = setInterval(scan, settings.resumeEveryMs);
    timer.unref();
    scan();

    return {
      // Workers that could start the same name differently must not serve together.
      fingerprint: configFingerprint({ definitions: settings.definitions }),
      endpoints: [
        endpoint({
          name: "saga",
          subject: subjects.saga,
          schema: sagaRequestSchema,
          description: "Starts, looks up and lists sagas",
          handler: async (request, context) => {
            switch (request.op) {
              case "start":
                return start(request, context);
              case "get": {
                const held = await (await storeOf()).get(request.id);
                if (!held) throw notFound(request.id);
                return { saga: viewOf(held.record) };
              }
              case "list":
                return list(request);
            }
          },
        }),
      ],
      stop: async () => {
        stopping = true;
        clearInterval(timer);
        await scanning;
        await runner.stop();
      },
      stats: () => ({ running: runner.count }),
    };
  },
};
