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

/**
 * A link added at run time comes from whoever may publish on the control subject: it may not
 * make the worker read its own environment or files (a password `{ env }`/`{ file }`, a
 * credentials, NKey seed or TLS key file) and present them to a server the request names.
 * Such links belong in the configuration's `bridge:` section.
 */
function refuseWorkerReferences(link: string, definition: LinkDefinition): void {
  const found: string[] = [];
  for (const side of ["upstream", "downstream"] as const) {
    const settings = definition[side] as Record<string, unknown>;
    for (const key of ["pass", "token"]) {
      if (typeof settings[key] === "object" && settings[key] !== null) found.push(`${side}.${key}`);
    }
    for (const key of ["credsFile", "nkeySeedFile"]) {
      if (settings[key] !== undefined) found.push(`${side}.${key}`);
    }
    const tls = settings.tls as Record<string, unknown> | undefined;
    for (const key of ["caFile", "certFile", "keyFile"]) {
      if (tls?.[key] !== undefined) found.push(`${side}.tls.${key}`);
    }
  }
  if (found.length > 0) {
    throw new EntenteError(
      "BAD_REQUEST",
      `link ${link}: ${found.join(", ")}: a link added at run time cannot use the worker's environment variables or files; configure it in the bridge section instead`,
      { details: { fields: found } },
    );
  }
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
            refuseWorkerReferences(request.link, definition);
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
