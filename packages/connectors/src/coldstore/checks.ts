/**
 * Per-partition counts and checksums of rows from anywhere (a hot source's query), grouped by
 * the partition paths the cold store would write them under, to compare with `checkFiles`.
 */
import type { Row, ValueType } from "../types.ts";
import { RowsChecksum } from "./checksum.ts";
import type { ColdColumn, PartitionCheck, PartitionField } from "./model.ts";
import { Partitioner } from "./partition.ts";

export class PartitionChecksums {
  readonly #partitioner: Partitioner;
  readonly #sums = new Map<string, RowsChecksum>();
  readonly #types: ValueType[];

  /** `columns` in the rows' order; `spec` the cold table's partition spec. */
  constructor(columns: readonly ColdColumn[], spec: readonly PartitionField[]) {
    this.#partitioner = new Partitioner(columns, spec);
    this.#types = columns.map((c) => c.type);
  }

  add(rows: Iterable<Row>): this {
    for (const row of rows) {
      const path = this.#partitioner.path(row);
      let sum = this.#sums.get(path);
      if (sum === undefined) {
        sum = new RowsChecksum(this.#types);
        this.#sums.set(path, sum);
      }
      sum.add([row]);
    }
    return this;
  }

  /** Sorted by partition path, as `ColdStore.checkFiles` returns them. */
  result(): PartitionCheck[] {
    return [...this.#sums.keys()].sort().map((partition) => {
      const sum = this.#sums.get(partition) as RowsChecksum;
      return { partition, rowCount: sum.rowCount, checksum: sum.checksum };
    });
  }
}

/** Reads a query's batches to the end, checking them per partition. */
export async function partitionChecksums(
  columns: readonly ColdColumn[],
  spec: readonly PartitionField[],
  batches: AsyncIterable<Row[]>,
): Promise<PartitionCheck[]> {
  const checks = new PartitionChecksums(columns, spec);
  for await (const batch of batches) checks.add(batch);
  return checks.result();
}
