/**
 * The broker-bridge service: runs the links this worker owns, answers the control subjects
 * (`<deployment>.bridge.links.add|remove|list`) and keeps every link's last published status.
 */
import { hostname } from "node:os";
import {
  type AddLinkReply,
  addLinkRequestSchema,
  bridgeSubjectsOf,
  EntenteError,
  jsonCodec,
  type LinkDefinition,
  type LinkListEntry,
  type LinkListReply,
  type LinkStatus,
  linkSchema,
  parseMessage,
  type RemoveLinkReply,
  removeLinkRequestSchema,
} from "@entente/protocol";
import { configFingerprint, endpoint, type ServiceDefinition } from "@entente/runtime";
import { nuid } from "@nats-io/nats-core";
import { z } from "zod";
import { bridgeSchema } from "./config.ts";
import { bridgeNamesOf } from "./names.ts";
import { LinkRegistry } from "./registry.ts";

/** Passwords in URLs are not repeated in listings. */
function redact(definition: LinkDefinition): LinkDefinition {
  const clean = (url: string) =>
    url.replace(/(\/\/[^:/@]+):[^@/]*@/g, "$1:***@").replace(/(\/\/)([^:/@]+)@/g, "$1***@");
  const up = { ...definition.upstream, url: clean(definition.upstream.url) };
  const down = { ...definition.downstream, url: clean(definition.downstream.url) };
  if ("pass" in up && up.pass !== undefined) up.pass = "***";
  if ("token" in up && up.token !== undefined) up.token = "***";
  if ("pass" in down && down.pass !== undefined) down.pass = "***";
  if ("token" in down && down.token !== undefined) down.token = "***";
  return { ...definition, upstream: up, downstream: down } as LinkDefinition;
}

export const brokerBridgeService: ServiceDefinition = {
  name: "broker-bridge",
  version: "0.1.0",
  description:
    "Federates message streams between NATS and RabbitMQ brokers through JetStream buffers",
  sections: { bridge: bridgeSchema },
  async start({ nc, config, logger, subjects }) {
    const settings = config.section("bridge", bridgeSchema);
    const log = logger.child({ component: "broker-bridge" });
    const workerId = `${hostname()}-${process.pid}-${nuid.next().slice(-6)}`;
    const statuses = new Map<string, LinkStatus>();
    const bridgeSubjects = bridgeSubjectsOf(subjects.deployment);
    const statusSub = nc.subscribe(bridgeSubjects.statusAll, {
      callback: (_err, msg) => {
        try {
          const status = jsonCodec.decode(msg.data) as LinkStatus;
          if (typeof status?.link === "string") statuses.set(status.link, status);
        } catch {
          // Someone else's malformed message on our subject: not ours to act on.
        }
      },
    });
    const registry = new LinkRegistry({
      nc,
      settings,
      names: bridgeNamesOf(subjects.deployment),
      logger: log,
      workerId,
    });
    await registry.start();
    log.info({ worker: workerId, links: registry.known().length }, "broker bridge started");

    const list = (): LinkListEntry[] =>
      registry.known().map((k) => ({
        link: k.link,
        source: k.source,
        definition: redact(k.definition),
        status: registry.runningLink(k.link)?.snapshot() ?? statuses.get(k.link),
      }));

    return {
      endpoints: [
        endpoint({
          name: "links-add",
          subject: bridgeSubjects.add,
          schema: addLinkRequestSchema,
          description: "Adds or changes a link, at run time, on every worker",
          handler: async (request): Promise<AddLinkReply> => {
            const definition = parseMessage(linkSchema, request.definition, `link ${request.link}`);
            await registry.putDefinition(request.link, definition);
            return { link: request.link, definition: redact(definition) };
          },
        }),
        endpoint({
          name: "links-remove",
          subject: bridgeSubjects.remove,
          schema: removeLinkRequestSchema,
          description: "Removes a link, configured or added at run time",
          handler: async (request): Promise<RemoveLinkReply> => {
            if (!registry.known().some((k) => k.link === request.link)) {
              throw new EntenteError("NOT_FOUND", `no link named ${JSON.stringify(request.link)}`);
            }
            await registry.removeDefinition(request.link);
            return { link: request.link, removed: true as const };
          },
        }),
        endpoint({
          name: "links-list",
          subject: bridgeSubjects.list,
          schema: z.unknown(),
          description: "Every link with its definition and last status",
          handler: (): LinkListReply => ({ links: list() }),
        }),
      ],
      async stop() {
        await registry.stop();
        statusSub.unsubscribe();
      },
      stats: () => ({ worker: workerId, owned: registry.ownedLinks().map((r) => r.name) }),
      // Configured links: workers that disagree on them would take turns running each.
      fingerprint: configFingerprint(settings.links),
    };
  },
};
