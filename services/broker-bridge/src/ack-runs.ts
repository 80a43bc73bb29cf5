/**
 * Acknowledges AMQP deliveries in runs. Confirmations come back roughly in order, so instead of
 * one basic.ack per message the upstream acknowledges, with `multiple`, everything up to the last
 * acknowledged delivery of the longest settled run from the oldest unsettled one. Messages given
 * back (nack) are settled at once on their own; a later `multiple` ack skips them, as the broker
 * no longer counts them as outstanding. Pure: the caller sends the acks.
 */
export class AckRuns {
  /** The oldest delivery not yet settled. */
  private lowest: number | undefined;
  /** Settled deliveries above `lowest`: true when acknowledged, false when given back. */
  private readonly settled = new Map<number, boolean>();

  delivered(tag: number): void {
    this.lowest ??= tag;
  }

  settle(tag: number, acknowledged: boolean): void {
    this.settled.set(tag, acknowledged);
  }

  /** The tag to acknowledge with `multiple`, if the oldest deliveries are now settled. */
  take(): number | undefined {
    let tag = this.lowest;
    let lastAcknowledged: number | undefined;
    while (tag !== undefined && this.settled.has(tag)) {
      if (this.settled.get(tag)) lastAcknowledged = tag;
      this.settled.delete(tag);
      tag++;
    }
    // Delivery tags on a channel run 1, 2, 3, …: the next unsettled one is `tag`, delivered or not.
    this.lowest = tag;
    return lastAcknowledged;
  }
}
