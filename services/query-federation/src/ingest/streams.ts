/**
 * The two JetStream streams of ingest and their subjects: validated batches on
 * `<streamSubjectPrefix>.<instance>` (never the public subject, which the validating endpoint
 * serves), and dead letters on `<deadLetter.subjectPrefix>.<instance>.<sequence>` — one
 * subject per batch, so "is this batch already dead-lettered?" is a single lookup.
 */
import { token } from "@entente/protocol";
import {
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { QueryFederationConfig } from "../config.ts";

export type IngestSettings = QueryFederationConfig["ingest"];

/** The subject the validating endpoint serves: one token after the prefix, the instance. */
export function publicSubjects(settings: IngestSettings): string {
  return `${settings.subjectPrefix}.*`;
}

/** `entente.ingest.edge-b` → `edge-b`. */
export function instanceOfPublicSubject(settings: IngestSettings, subject: string): string {
  return subject.slice(settings.subjectPrefix.length + 1);
}

export function streamSubject(settings: IngestSettings, instance: string): string {
  return `${settings.streamSubjectPrefix}.${token(instance, "instance")}`;
}

export function deadLetterSubject(
  settings: IngestSettings,
  instance: string,
  sequence: number,
): string {
  return `${settings.deadLetter.subjectPrefix}.${token(instance, "instance")}.${sequence}`;
}

/** Creates both streams, or brings existing ones to the settings. */
export async function ensureIngestStreams(
  nc: NatsConnection,
  settings: IngestSettings,
): Promise<void> {
  await ensureStream(nc, {
    name: settings.stream,
    subjects: [`${settings.streamSubjectPrefix}.>`],
    max_age: settings.maxAgeMs * 1_000_000,
  });
  await ensureStream(nc, {
    name: settings.deadLetter.stream,
    subjects: [`${settings.deadLetter.subjectPrefix}.>`],
    max_age: settings.deadLetter.maxAgeMs * 1_000_000,
  });
}

async function ensureStream(
  nc: NatsConnection,
  wanted: Pick<StreamConfig, "name" | "subjects" | "max_age">,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { ...wanted, retention: RetentionPolicy.Limits, storage: StorageType.File };
  const exists = await jsm.streams.info(wanted.name).then(
    () => true,
    (err: unknown) => {
      if (!/not found/i.test(String((err as Error).message))) throw err;
      return false;
    },
  );
  // An ingest stream made before validation moved in front of it captured the public
  // subject: the update takes that subject away from it.
  if (exists) await jsm.streams.update(wanted.name, config);
  else await jsm.streams.add(config);
}
