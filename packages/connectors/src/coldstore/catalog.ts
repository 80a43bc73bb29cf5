/**
 * Metadata files on disk, as Iceberg's file-system catalog keeps them: `metadata/v<N>.metadata.json`,
 * the highest N current. A commit creates the next version exclusively (a hard link of a
 * finished temp file, so readers never see a partial one); EEXIST means another writer won.
 */
import { randomUUID } from "node:crypto";
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EntenteError } from "@entente/protocol";
import type { ColdTableMetadata } from "./model.ts";

const VERSION_FILE = /^v(\d+)\.metadata\.json$/;

export function metadataDir(tableDir: string): string {
  return join(tableDir, "metadata");
}

/** The highest metadata version in a table directory; 0 when there is none. */
export async function latestVersion(tableDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(metadataDir(tableDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let latest = 0;
  for (const name of names) {
    const match = VERSION_FILE.exec(name);
    if (match) latest = Math.max(latest, Number(match[1]));
  }
  return latest;
}

export async function readVersion(tableDir: string, version: number): Promise<ColdTableMetadata> {
  const file = join(metadataDir(tableDir), `v${version}.metadata.json`);
  const text = await readFile(file, "utf8");
  let parsed: ColdTableMetadata;
  try {
    parsed = JSON.parse(text) as ColdTableMetadata;
  } catch (err) {
    throw new EntenteError("INTERNAL", `cold store: ${file} is not valid JSON`, { cause: err });
  }
  if (parsed.formatVersion !== 1) {
    throw new EntenteError(
      "INTERNAL",
      `cold store: ${file} has format version ${String(parsed.formatVersion)}; only 1 is read`,
    );
  }
  return { ...parsed, version };
}

/** Writes `metadata` as its version; false when that version already exists. */
export async function createVersion(
  tableDir: string,
  metadata: ColdTableMetadata,
): Promise<boolean> {
  const dir = metadataDir(tableDir);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.tmp-${randomUUID()}.json`);
  await writeFile(temp, `${JSON.stringify(metadata, null, 1)}\n`);
  try {
    await link(temp, join(dir, `v${metadata.version}.metadata.json`));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/**
 * Deletes metadata versions below `keepFrom`, written before `beforeMs`: each version repeats
 * the snapshot list, so old ones only cost space. The current version is never below `keepFrom`.
 */
export async function removeVersionsBelow(
  tableDir: string,
  keepFrom: number,
  beforeMs: number,
): Promise<number> {
  const dir = metadataDir(tableDir);
  let removed = 0;
  for (const name of await readdir(dir)) {
    const match = VERSION_FILE.exec(name);
    if (!match || Number(match[1]) >= keepFrom) continue;
    const file = join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || info.mtimeMs >= beforeMs) continue;
    await unlink(file).catch(() => {});
    removed++;
  }
  return removed;
}
