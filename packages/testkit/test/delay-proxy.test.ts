import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { startDelayProxy } from "../src/delay-proxy.ts";
import { startNatsServer } from "../src/nats-server.ts";

/** Resolves with the first status event of `type` the connection reports. */
async function nextStatus(nc: NatsConnection, type: Status["type"]): Promise<Status> {
  for await (const status of nc.status()) {
    if (status.type === type) return status;
  }
  throw new Error(`connection closed before a ${type} event`);
}

/** A local server that sends back whatever it receives. */
async function startEchoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return { server, port: address.port };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Connects to `port` and resolves once the socket is closed, with what it received. */
async function connectUntilClosed(port: number): Promise<Buffer> {
  const socket = tcpConnect({ port, host: "127.0.0.1" });
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  // A refused connection may be reset: wait for "close" either way (events.once rejects on error).
  await new Promise<void>((resolve) => {
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
  return Buffer.concat(received);
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("startDelayProxy", () => {
  it("passes a few MB through intact and in order, with jitter", async () => {
    const echo = await startEchoServer();
    const proxy = await startDelayProxy({
      target: { host: "127.0.0.1", port: echo.port },
      delayMs: 5,
      jitterMs: 20,
    });
    const client: Socket = tcpConnect({ port: proxy.port, host: "127.0.0.1" });
    try {
      expect(proxy.url).toBe(`nats://127.0.0.1:${proxy.port}`);
      const sent = randomBytes(4 * 1024 * 1024);
      const received: Buffer[] = [];
      let receivedBytes = 0;
      const done = new Promise<void>((resolve, reject) => {
        client.on("error", reject);
        client.on("data", (chunk: Buffer) => {
          received.push(chunk);
          receivedBytes += chunk.length;
          if (receivedBytes >= sent.length) resolve();
        });
      });
      // Many writes of uneven size, so jitter has plenty of chunks it could reorder.
      for (let offset = 0; offset < sent.length; ) {
        const size = 1 + Math.floor(Math.random() * 64 * 1024);
        client.write(sent.subarray(offset, offset + size));
        offset += size;
      }
      await done;
      expect(Buffer.concat(received).equals(sent)).toBe(true);
      expect(proxy.connections).toBe(1);
    } finally {
      client.destroy();
      await proxy.close();
      await closeServer(echo.server);
    }
  });

  it("accepts a nats:// or host:port target and checks its numbers", async () => {
    const echo = await startEchoServer();
    try {
      for (const target of [`nats://127.0.0.1:${echo.port}`, `127.0.0.1:${echo.port}`]) {
        const proxy = await startDelayProxy({ target, delayMs: 0 });
        const client = tcpConnect({ port: proxy.port, host: "127.0.0.1" });
        client.write("ping");
        const [reply] = (await once(client, "data")) as [Buffer];
        expect(reply.toString()).toBe("ping");
        client.destroy();
        await proxy.close();
      }
      await expect(startDelayProxy({ target: "127.0.0.1", delayMs: 1 })).rejects.toThrow(
        /host and port/,
      );
      await expect(
        startDelayProxy({ target: { host: "127.0.0.1", port: echo.port }, delayMs: -1 }),
      ).rejects.toThrow(RangeError);
    } finally {
      await closeServer(echo.server);
    }
  });

  it("carries NATS request/reply, and a round trip takes at least twice the delay", async () => {
    const server = await startNatsServer({ jetstream: false });
    const proxy = await startDelayProxy({ target: server.url, delayMs: 30 });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: proxy.url });
      nc.subscribe("greet", {
        callback: (_err, msg) => {
          msg.respond(`hello ${msg.string()}`);
        },
      });
      const reply = await nc.request("greet", "region", { timeout: 5_000 });
      expect(reply.string()).toBe("hello region");
      expect(await nc.rtt()).toBeGreaterThanOrEqual(60);

      // The delay can change while connections are open, by setDelay() or the property.
      proxy.setDelay(0);
      expect(proxy.delayMs).toBe(0);
      proxy.delayMs = 40;
      expect(await nc.rtt()).toBeGreaterThanOrEqual(80);
    } finally {
      await nc?.close();
      await proxy.close();
      await server.stop();
    }
  });

  it("cut() drops connections and refuses new ones; resume() lets the client back", async () => {
    const server = await startNatsServer({ jetstream: false });
    const proxy = await startDelayProxy({ target: server.url, delayMs: 5 });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: proxy.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      nc.subscribe("greet", {
        callback: (_err, msg) => {
          msg.respond("hi");
        },
      });
      await nc.flush();
      expect(proxy.connections).toBe(1);

      const disconnected = nextStatus(nc, "disconnect");
      proxy.cut();
      await disconnected;
      expect(proxy.connections).toBe(0);
      // A new connection is accepted and closed at once, without a byte (no INFO).
      expect((await connectUntilClosed(proxy.port)).length).toBe(0);
      expect(proxy.connections).toBe(0);

      const reconnected = nextStatus(nc, "reconnect");
      proxy.resume();
      await reconnected;
      expect((await nc.request("greet", "", { timeout: 5_000 })).string()).toBe("hi");
      expect(proxy.connections).toBe(1);
    } finally {
      await nc?.close();
      await proxy.close();
      await server.stop();
    }
  });

  it("closes the client side when the server dies, without an unhandled error", async () => {
    const server = await startNatsServer({ jetstream: false });
    const proxy = await startDelayProxy({ target: server.url, delayMs: 5 });
    try {
      const nc = await connect({
        servers: proxy.url,
        maxReconnectAttempts: 0,
        reconnectTimeWait: 100,
      });
      const closed = nc.closed();
      await server.kill("SIGKILL");
      await closed;
      await waitUntil(() => proxy.connections === 0, "the proxy to drop the connection");
      // With the target gone, a new connection is closed as soon as its upstream fails.
      await connectUntilClosed(proxy.port);
      expect(proxy.connections).toBe(0);
    } finally {
      await proxy.close();
      await server.stop();
    }
  });

  it("close() ends connections with bytes still queued and leaves no open handles", async () => {
    // In a process of its own, which must exit by itself: a handle left open (a socket, or the
    // timer of the chunk held back for ten minutes) would keep it running past the timeout.
    const moduleUrl = new URL("../src/delay-proxy.ts", import.meta.url).href;
    const script = `
      import { createServer, connect } from "node:net";
      import { once } from "node:events";
      import { startDelayProxy } from ${JSON.stringify(moduleUrl)};
      const echo = createServer((s) => { s.on("error", () => {}); s.pipe(s); });
      echo.listen(0, "127.0.0.1");
      await once(echo, "listening");
      const proxy = await startDelayProxy({ target: { host: "127.0.0.1", port: echo.address().port }, delayMs: 600_000 });
      const client = connect({ port: proxy.port, host: "127.0.0.1" });
      client.on("error", () => {});
      client.write("held back");
      while (proxy.connections === 0) await new Promise((r) => setTimeout(r, 10));
      const clientClosed = new Promise((r) => client.on("close", r));
      await proxy.close();
      await clientClosed;
      await new Promise((r) => echo.close(r));
      console.log("closed", proxy.connections);
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--input-type=module", "--eval", script],
      { cwd: fileURLToPath(new URL(".", import.meta.url)), timeout: 20_000 },
    );
    expect(stdout.trim()).toBe("closed 0");
  });
});
