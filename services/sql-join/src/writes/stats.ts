/** Counts of what a worker's transactions did, for `$SRV.STATS` (`entente status`). */
export class TransactionStats {
  committed = 0;
  /** Of those committed, by two-phase commit. */
  twoPhase = 0;
  rolledBack = 0;
  /** Transactions left prepared because their decision could not be logged. */
  inDoubt = 0;
  /** Prepared transactions recovery committed or rolled back. */
  recoveredCommitted = 0;
  recoveredRolledBack = 0;

  figures() {
    return {
      committed: this.committed,
      twoPhase: this.twoPhase,
      rolledBack: this.rolledBack,
      inDoubt: this.inDoubt,
      recoveredCommitted: this.recoveredCommitted,
      recoveredRolledBack: this.recoveredRolledBack,
    };
  }
}
