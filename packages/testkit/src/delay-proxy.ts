/**
 * A TCP proxy that adds latency, for multi-region tests: put one in front of a region's
 * nats-server and every link to that region gets a one-way delay (optionally with jitter) in
 * each direction, changeable while the test runs. `cut()` turns the link dead: open
 * connections are cut and new ones refused until `resume()`.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { performance } from "node:perf_hooks";

export interface DelayProxyOptions {
  /** Where to forward: `{ host, port }`, "nats://127.0.0.1:4222" or "127.0.0.1:4222". */
  target: { host: string; port: number } | string;
  /** One-way delay added to every chunk in each direction; a round trip gets twice this. */
  delayMs: number;
  /** Up to this much extra random delay per chunk; default 0. Never reorders bytes. */
  jitterMs?: number;
  /** Port to listen on; default 0, a free one. */
  port?: number;
  /** Address to listen on; default "127.0.0.1". */
  host?: string;
}

export interface DelayProxy {
  readonly port: number;
  /** "nats://<host>:<port>" */
  readonly url: string;
  /** Settable at run time: applies to bytes arriving after the change. */
  delayMs: number;
  /** Sets the delay, and the jitter when given (otherwise the jitter stays as it is). */
  setDelay(ms: number, jitterMs?: number): void;
  /** Refuses new connections and cuts existing ones (a dead link); `resume()` accepts again. */
  cut(): void;
  resume(): void;
  /** Open client connections. */
  readonly connections: number;
  /** Ends every connection; resolves once the listening socket is closed. */
  close(): Promise<void>;
}

// Above this many bytes waiting in one direction the source is paused, so a fast sender
// cannot grow the queue without bound while its bytes sit out the delay.
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

interface Timing {
  delayMs: number;
  jitterMs: number;
}

/** A chunk, or the end of the stream (`undefined`), and when it may go out. */
interface Pending {
  chunk: Buffer | undefined;
  releaseAt: number;
}

/** One direction of one connection: holds each chunk back, then writes it in order. */
class DelayedPipe {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private lastReleaseAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private stopped = false;
  private readonly from: Socket;
  private readonly to: Socket;
  private readonly timing: Timing;
  private readonly onEnd: () => void;

  constructor(from: Socket, to: Socket, timing: Timing, onEnd: () => void) {
    this.from = from;
    this.to = to;
    this.timing = timing;
    this.onEnd = onEnd;
    from.on("data", (chunk: Buffer) => this.push(chunk));
    from.on("end", () => this.push(undefined));
    to.on("drain", () => this.resumeIfRoom());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private push(chunk: Buffer | undefined): void {
    if (this.stopped) return;
    const { delayMs, jitterMs } = this.timing;
    // Never before an earlier chunk: jitter and a lowered delay must not reorder bytes.
    const releaseAt = Math.max(
      this.lastReleaseAt,
      performance.now() + delayMs + Math.random() * jitterMs,
    );
    this.lastReleaseAt = releaseAt;
    this.queue.push({ chunk, releaseAt });
    this.queuedBytes += chunk?.length ?? 0;
    if (!this.paused && this.backlog() > MAX_QUEUED_BYTES) {
      this.paused = true;
      this.from.pause();
    }
    if (this.timer === undefined) this.release();
  }

  /** Writes every chunk that is due, then waits for the next one. */
  private release(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.releaseAt <= now) {
      const { chunk } = this.queue.shift()!;
      if (chunk === undefined) {
        // The source ended: pass that on after its last bytes, then close both sides.
        this.to.end(() => this.onEnd());
        this.stop();
        return;
      }
      this.queuedBytes -= chunk.length;
      this.to.write(chunk);
    }
    this.resumeIfRoom();
    const next = this.queue[0];
    // Timers can fire a little early; re-checking against the clock keeps the delay a minimum.
    if (next !== undefined) {
      this.timer = setTimeout(() => this.release(), Math.max(1, next.releaseAt - now));
    }
  }

  private backlog(): number {
    return this.queuedBytes + this.to.writableLength;
  }

  private resumeIfRoom(): void {
    if (this.paused && !this.stopped && this.backlog() <= MAX_QUEUED_BYTES) {
      this.paused = false;
      this.from.resume();
    }
  }
}

/** A client connection and its connection to the target. */
class ProxiedConnection {
  private readonly pipes: DelayedPipe[];
  private closed = false;
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly onClose: (connection: ProxiedConnection) => void;

  constructor(
    client: Socket,
    upstream: Socket,
    timing: Timing,
    onClose: (connection: ProxiedConnection) => void,
  ) {
    this.client = client;
    this.upstream = upstream;
    this.onClose = onClose;
    const close = () => this.close();
    this.pipes = [
      new DelayedPipe(client, upstream, timing, close),
      new DelayedPipe(upstream, client, timing, close),
    ];
    // Either side failing or going away ends the whole connection; errors are expected
    // (a test may kill the server) and must not surface as unhandled.
    for (const socket of [client, upstream]) {
      socket.on("error", close);
      socket.on("close", close);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pipe of this.pipes) pipe.stop();
    this.client.destroy();
    this.upstream.destroy();
    this.onClose(this);
  }
}

function parseTarget(target: DelayProxyOptions["target"]): { host: string; port: number } {
  if (typeof target !== "string") return target;
  const url = new URL(target.includes("://") ? target : `tcp://${target}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" && url.protocol === "nats:" ? 4222 : Number(url.port);
  if (host === "" || !Number.isInteger(port) || port <= 0) {
    throw new Error(`delay proxy target needs a host and port: ${target}`);
  }
  return { host, port };
}

function checkMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host }, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

/** Starts a delaying TCP proxy in front of `target`. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const target = parseTarget(options.target);
  const host = options.host ?? "127.0.0.1";
  // Shared by every pipe, so a change applies to all connections at once.
  const timing: Timing = {
    delayMs: checkMs("delayMs", options.delayMs),
    jitterMs: checkMs("jitterMs", options.jitterMs ?? 0),
  };
  const open = new Set<ProxiedConnection>();
  let isCut = false;
  let closing: Promise<void> | undefined;

  // Half-open sockets: an end from one side is passed on only after the bytes before it.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (isCut || closing !== undefined) {
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect({ ...target, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(new ProxiedConnection(client, upstream, timing, (c) => open.delete(c)));
  });
  const port = await listen(server, options.port ?? 0, host);
  server.on("error", () => {});

  const cutAll = () => {
    for (const connection of [...open]) connection.close();
  };

  return {
    port,
    url: `nats://${host.includes(":") ? `[${host}]` : host}:${port}`,
    get delayMs() {
      return timing.delayMs;
    },
    set delayMs(ms: number) {
      timing.delayMs = checkMs("delayMs", ms);
    },
    setDelay(ms, jitterMs) {
      timing.delayMs = checkMs("delayMs", ms);
      if (jitterMs !== undefined) timing.jitterMs = checkMs("jitterMs", jitterMs);
    },
    cut() {
      isCut = true;
      cutAll();
    },
    resume() {
      isCut = false;
    },
    get connections() {
      return open.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        cutAll();
      });
      return closing;
    },
  };
}
