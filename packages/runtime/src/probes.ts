/**
 * Liveness and readiness for orchestrators, over plain HTTP: `GET /healthz` answers 200 while the
 * process runs its event loop; `GET /readyz` answers 200 while the worker takes work (every
 * service started and accepting, NATS connected) and 503 with the reason otherwise, so a
 * load balancer or Kubernetes stops routing to a worker that is draining or cut off from NATS.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready. */
  reason?: string;
}

export interface Probes {
  readonly port: number;
  close(): Promise<void>;
}

export async function startProbes(options: {
  port: number;
  host: string;
  readiness: () => Readiness;
}): Promise<Probes> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const answer = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, { status: "use GET" });
    if (path === "/healthz") return answer(200, { status: "alive" });
    if (path === "/readyz") {
      const { ready, reason } = options.readiness();
      return answer(
        ready ? 200 : 503,
        ready ? { status: "ready" } : { status: "not ready", reason },
      );
    }
    answer(404, { status: `no such probe: ${path} (use /healthz or /readyz)` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
