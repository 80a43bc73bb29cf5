export { PartitionChecksums, partitionChecksums } from "./checks.ts";
export { batchesChecksum, RowsChecksum, rowsChecksum } from "./checksum.ts";
export { ColdstoreConnector } from "./connector.ts";
export type {
  ColdColumn,
  ColdSnapshot,
  ColdTableMetadata,
  ColdTableStats,
  ColumnStats,
  CommitChange,
  DataFile,
  MaintenanceResult,
  PartitionCheck,
  PartitionField,
} from "./model.ts";
export { partitionFieldName } from "./model.ts";
export { bucketOf, Partitioner, partitionPath } from "./partition.ts";
export { ColdStore, type ColdStoreConfig } from "./store.ts";
