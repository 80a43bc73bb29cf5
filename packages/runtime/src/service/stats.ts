import { truncateText } from "@entente/protocol";

/** `$SRV.STATS` answers with every endpoint's last error: each must stay short. */
const MAX_LAST_ERROR_CHARS = 500;

/**
 * Per-endpoint figures in the shape of the NATS services API (`$SRV.STATS`), measured from the
 * moment a request arrives until its reply — or its last batch — has been sent.
 */
export class EndpointStats {
  numRequests = 0;
  numErrors = 0;
  lastError = "";
  /** Nanoseconds, summed over completed requests. */
  processingTimeNs = 0;
  inFlight = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Stream control messages refused: not from the stream's requester, or a copy of one. */
  rejectedControls = 0;

  begin(requestBytes: number): void {
    this.inFlight++;
    this.bytesIn += requestBytes;
  }

  end(elapsedNs: number, responseBytes: number, error?: { code: string; message: string }): void {
    this.inFlight--;
    this.numRequests++;
    this.processingTimeNs += elapsedNs;
    this.bytesOut += responseBytes;
    if (error) {
      this.numErrors++;
      this.lastError = truncateText(`${error.code}: ${error.message}`, MAX_LAST_ERROR_CHARS);
    }
  }

  get averageProcessingTimeNs(): number {
    return this.numRequests === 0 ? 0 : Math.round(this.processingTimeNs / this.numRequests);
  }
}
