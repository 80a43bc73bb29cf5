import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackDir, untrackDir } from "./cleanup.ts";

/** A fresh directory under the OS temp dir, removed at process exit if nobody removed it first. */
export async function makeTempDir(
  prefix: string,
  owner?: { uid: number; gid: number },
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `entente-${prefix}-`));
  trackDir(dir);
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  untrackDir(dir);
}
