/**
 * The bridge's lines that can repeat without end (a link's status while it fails to connect, a
 * message problem, a lost lease) go through here: a line identical to one written less than a
 * minute ago is counted instead of written, and the next one written carries `repeated`.
 */
import type { Logger } from "@entente/runtime";
import { LogThrottle } from "./log-throttle.ts";

type Level = "info" | "warn" | "error";
type Fields = Record<string, string | number | boolean | undefined>;

export class ThrottledLog {
  private readonly logger: Logger;
  private readonly throttle: LogThrottle;
  private readonly now: () => number;

  constructor(
    logger: Logger,
    throttle = new LogThrottle({ windowMs: 60_000, maxKinds: 10_000 }),
    now: () => number = Date.now,
  ) {
    this.logger = logger;
    this.throttle = throttle;
    this.now = now;
  }

  info(fields: Fields, message: string): void {
    this.write("info", fields, message);
  }

  warn(fields: Fields, message: string): void {
    this.write("warn", fields, message);
  }

  error(fields: Fields, message: string): void {
    this.write("error", fields, message);
  }

  private write(level: Level, fields: Fields, message: string): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const verdict = this.throttle.admit(
      `${level} ${message} ${JSON.stringify(fields)}`,
      this.now(),
    );
    if (!verdict.write) return;
    this.logger[level](
      verdict.repeated > 0 ? { ...fields, repeated: verdict.repeated } : fields,
      message,
    );
  }
}
