/** Pure planning: next metadata for a commit, compaction groups, snapshot expiry. */
import {
  type ColdSnapshot,
  type ColdTableMetadata,
  type CommitChange,
  currentFiles,
  currentSpecId,
  type DataFile,
  specIdOf,
} from "./model.ts";

/** The partition path of a file: its directory under `data/`. */
export function filePartition(file: Pick<DataFile, "path">): string {
  const dir = file.path.slice(0, Math.max(0, file.path.lastIndexOf("/")));
  return dir === "data" ? "" : dir.replace(/^data\//, "");
}

/** The metadata a commit writes: a new current snapshot with `change`'s files. */
export function nextMetadata(
  current: ColdTableMetadata,
  operation: ColdSnapshot["operation"],
  change: CommitChange,
  nowMs: number,
): ColdTableMetadata {
  const snapshotId = current.snapshots.reduce((max, s) => Math.max(max, s.snapshotId), 0) + 1;
  const before = currentFiles(current);
  const beforePaths = new Set(before.map((f) => f.path));
  const afterPaths = new Set(change.files.map((f) => f.path));
  const summary: Record<string, string> = {
    "added-files": String(change.files.filter((f) => !beforePaths.has(f.path)).length),
    "removed-files": String(before.filter((f) => !afterPaths.has(f.path)).length),
    "total-files": String(change.files.length),
    "total-rows": String(change.files.reduce((n, f) => n + f.rowCount, 0)),
    ...change.summary,
  };
  const snapshot: ColdSnapshot = {
    snapshotId,
    ...(current.currentSnapshotId !== undefined
      ? { parentSnapshotId: current.currentSnapshotId }
      : {}),
    timestampMs: nowMs,
    operation,
    summary,
    files: change.files,
  };
  return {
    ...current,
    version: current.version + 1,
    lastUpdatedMs: nowMs,
    partitionSpec: change.partitionSpec
      ? { specId: currentSpecId(current) + 1, fields: change.partitionSpec }
      : current.partitionSpec,
    properties: change.properties ?? current.properties,
    currentSnapshotId: snapshotId,
    snapshots: [...current.snapshots, snapshot],
  };
}

/**
 * The key files are grouped by for compaction: same spec, same directory and same partition
 * values (two specs, or a hashed long value, can share a directory).
 */
export function partitionKey(file: Pick<DataFile, "path" | "partition" | "specId">): string {
  const values = Object.keys(file.partition)
    .sort()
    .map((k) => [k, file.partition[k]]);
  return `${specIdOf(file)}\u0000${filePartition(file)}\u0000${JSON.stringify(values)}`;
}

/**
 * Per partition, the files below `targetBytes` gathered into groups that each become one file
 * of about `targetBytes`; only groups of two or more files are worth rewriting.
 */
export function planCompaction(files: readonly DataFile[], targetBytes: number): DataFile[][] {
  const byPartition = new Map<string, DataFile[]>();
  for (const file of files) {
    if (file.bytes >= targetBytes) continue;
    const key = partitionKey(file);
    const list = byPartition.get(key) ?? [];
    list.push(file);
    byPartition.set(key, list);
  }
  const groups: DataFile[][] = [];
  for (const key of [...byPartition.keys()].sort()) {
    const list = (byPartition.get(key) ?? []).sort((a, b) => a.path.localeCompare(b.path));
    let group: DataFile[] = [];
    let bytes = 0;
    for (const file of list) {
      if (group.length > 0 && bytes + file.bytes > targetBytes) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(file);
      bytes += file.bytes;
    }
    if (group.length > 0) groups.push(group);
  }
  return groups.filter((g) => g.length >= 2);
}

export interface ExpiryPlan {
  keep: ColdSnapshot[];
  expired: ColdSnapshot[];
  /** Files that only expired snapshots refer to. */
  deletable: string[];
}

/**
 * Keeps the current snapshot, the newest `retainLast`, and every snapshot newer than
 * `nowMs - olderThanMs`; a file is deletable only when no kept snapshot refers to it.
 */
export function planExpiry(
  metadata: ColdTableMetadata,
  nowMs: number,
  olderThanMs: number,
  retainLast: number,
): ExpiryPlan {
  const newestFirst = [...metadata.snapshots].sort((a, b) => b.snapshotId - a.snapshotId);
  const keep: ColdSnapshot[] = [];
  const expired: ColdSnapshot[] = [];
  newestFirst.forEach((snapshot, i) => {
    const kept =
      snapshot.snapshotId === metadata.currentSnapshotId ||
      i < retainLast ||
      snapshot.timestampMs > nowMs - olderThanMs;
    (kept ? keep : expired).push(snapshot);
  });
  const referenced = new Set(keep.flatMap((s) => s.files.map((f) => f.path)));
  const deletable = [
    ...new Set(
      expired.flatMap((s) => s.files.map((f) => f.path)).filter((p) => !referenced.has(p)),
    ),
  ].sort();
  keep.sort((a, b) => a.snapshotId - b.snapshotId);
  expired.sort((a, b) => a.snapshotId - b.snapshotId);
  return { keep, expired, deletable };
}

/** Every file any snapshot refers to. */
export function referencedFiles(metadata: ColdTableMetadata): Set<string> {
  return new Set(metadata.snapshots.flatMap((s) => s.files.map((f) => f.path)));
}

/** Splits `rows` rows of `bytes` total into files of about `targetBytes`. */
export function splitCount(rows: number, bytes: number, targetBytes: number): number {
  if (rows <= 1 || bytes <= targetBytes * 1.25) return 1;
  return Math.min(rows, Math.ceil(bytes / targetBytes));
}
