/**
 * `entente saga start <file|name>`, `entente saga <id>`, `entente sagas`: sagas started,
 * looked up and listed (the sagas service on `entente.saga`).
 */
import {
  SAGA_STATES,
  type SagaGetReply,
  type SagaListReply,
  type SagaStartReply,
  type SagaView,
  subjectsOf,
  toJson,
} from "@entente/protocol";
import { type Command, Option } from "commander";
import { formatOption, positiveInteger, print, readJsonArgument, withClient } from "./common.ts";
import { renderTable } from "./table.ts";

/** A saga definition (`@file` or inline JSON), else the name of one in the configuration. */
function startBody(what: string): { saga: unknown } | { name: string } {
  if (!what.startsWith("@") && !what.trimStart().startsWith("{")) return { name: what };
  return { saga: readJsonArgument(what, "the saga definition") };
}

const timeText = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toISOString());

/** A step's outcome in a table cell: its error, else the start of its reply. */
function outcomeText(step: SagaView["steps"][number]): string {
  if (step.error) return `${step.error.code}: ${step.error.message}`.slice(0, 100);
  return step.result === undefined ? "" : toJson(step.result).slice(0, 100);
}

function sagaText(saga: SagaView): string {
  const lines = [
    `saga ${saga.id}${saga.name ? ` (${saga.name})` : ""}: ${saga.state}, updated ${timeText(saga.updatedAt)}${saga.owner ? `, run by ${saga.owner}` : ""}${saga.traceId ? `, trace ${saga.traceId}` : ""}`,
  ];
  if (saga.error) lines.push(`error: ${saga.error.code}: ${saga.error.message}`);
  lines.push(
    renderTable(
      ["#", "step", "status", "attempts", "undo attempts", "finished", "outcome"],
      saga.steps.map((s, i) => [
        i,
        s.name,
        s.status,
        s.attempts,
        s.compensationAttempts,
        timeText(s.finishedAt),
        outcomeText(s),
      ]),
    ),
  );
  if (saga.state === "needs_operator") {
    lines.push("a compensation failed for good: undo it by hand, as its error says");
  }
  return lines.join("\n");
}

export function registerSagaCommands(program: Command): void {
  const saga = program
    .command("saga")
    .description("a saga: its state and each step's (sagas service)")
    .argument("<id>", "the saga's id")
    .addOption(formatOption())
    .action(async (id: string, options: { format: string }, command: Command) => {
      await withClient(command, async ({ client }, config) => {
        const reply = await client.request<SagaGetReply>(
          subjectsOf(config.config.deployment).saga,
          { op: "get", id },
        );
        print(options.format, reply.saga, () => sagaText(reply.saga));
      });
    });

  saga
    .command("start")
    .description("start a saga: a JSON definition (@file or inline), or a configured saga's name")
    .argument(
      "<@file|json|name>",
      "@file or JSON holding { steps: [...] }, else a configured saga's name",
    )
    .option("--id <id>", "the saga's id; starting an id again returns the saga already there")
    .option("--wait", "answer once the saga has ended (within --timeout)")
    .option("--timeout <ms>", "time budget in milliseconds", positiveInteger, 30_000)
    .addOption(formatOption())
    .action(
      async (
        what: string,
        options: { id?: string; wait?: boolean; timeout: number; format: string },
        command: Command,
      ) => {
        const body = {
          op: "start",
          ...startBody(what),
          ...(options.id ? { id: options.id } : {}),
          ...(options.wait ? { wait: true } : {}),
        };
        await withClient(command, async ({ client }, config) => {
          const reply = await client.request<SagaStartReply>(
            subjectsOf(config.config.deployment).saga,
            body,
            { timeoutMs: options.timeout },
          );
          print(
            options.format,
            reply,
            () => `${reply.existing ? "already there: " : "started: "}${sagaText(reply.saga)}`,
          );
        });
      },
    );

  program
    .command("sagas")
    .description("list sagas, the most recently updated first (sagas service)")
    .addOption(new Option("--state <state>", "only sagas in this state").choices(SAGA_STATES))
    .option("--limit <n>", "at most this many", positiveInteger, 100)
    .addOption(formatOption())
    .action(
      async (options: { state?: string; limit: number; format: string }, command: Command) => {
        await withClient(command, async ({ client }, config) => {
          const reply = await client.request<SagaListReply>(
            subjectsOf(config.config.deployment).saga,
            {
              op: "list",
              limit: options.limit,
              ...(options.state ? { state: options.state } : {}),
            },
          );
          print(options.format, reply.sagas, () =>
            reply.sagas.length === 0
              ? "no sagas"
              : renderTable(
                  ["id", "name", "state", "done", "updated", "error"],
                  reply.sagas.map((s) => [
                    s.id,
                    s.name ?? "",
                    s.state,
                    `${s.done}/${s.steps}`,
                    timeText(s.updatedAt),
                    (s.error ?? "").slice(0, 100),
                  ]),
                ),
          );
        });
      },
    );
}
