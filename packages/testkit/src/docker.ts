import { request } from "node:http";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";

export interface DockerStatus {
  available: boolean;
  /** Where the engine answered, or why none was found. */
  detail: string;
}

let cached: Promise<DockerStatus> | undefined;

/**
 * Whether a Docker (or Podman) engine answers, so testcontainers can run. Cheap: it pings the
 * engine's socket and never loads testcontainers. Cached per process for the real environment.
 */
export function dockerStatus(env: NodeJS.ProcessEnv = process.env): Promise<DockerStatus> {
  if (env !== process.env) return probe(env);
  cached ??= probe(env);
  return cached;
}

async function probe(env: NodeJS.ProcessEnv): Promise<DockerStatus> {
  const host = env.DOCKER_HOST;
  if (host !== undefined && host !== "") {
    if (host.startsWith("unix://")) return pingSocket(host.slice("unix://".length));
    if (host.startsWith("tcp://")) return pingTcp(new URL(host), env.DOCKER_TLS_VERIFY === "1");
    return { available: false, detail: `DOCKER_HOST=${host} is not a unix:// or tcp:// address` };
  }
  const candidates = socketCandidates(env);
  for (const socket of candidates) {
    const status = await pingSocket(socket);
    if (status.available) return status;
  }
  return {
    available: false,
    detail: `no Docker engine answered (DOCKER_HOST is not set; tried ${candidates.join(", ")})`,
  };
}

function socketCandidates(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME ?? homedir();
  const runtimeDir = env.XDG_RUNTIME_DIR;
  return [
    "/var/run/docker.sock",
    join(home, ".docker/run/docker.sock"),
    join(home, ".docker/desktop/docker.sock"),
    join(home, ".colima/default/docker.sock"),
    join(home, ".rd/docker.sock"),
    ...(runtimeDir
      ? [join(runtimeDir, "docker.sock"), join(runtimeDir, "podman/podman.sock")]
      : []),
    "/run/podman/podman.sock",
  ];
}

function pingSocket(socketPath: string): Promise<DockerStatus> {
  return ping({ socketPath, path: "/_ping" }, `unix://${socketPath}`);
}

function pingTcp(url: URL, tls: boolean): Promise<DockerStatus> {
  const port = Number(url.port || (tls ? 2376 : 2375));
  // A TLS engine wants client certificates before it answers; an open port is taken as enough.
  if (tls) return portOpen(url.hostname, port, url.href);
  return ping({ host: url.hostname, port, path: "/_ping" }, url.href);
}

function ping(
  options: { socketPath?: string; host?: string; port?: number; path: string },
  where: string,
): Promise<DockerStatus> {
  return new Promise((resolve) => {
    const req = request({ ...options, method: "GET", timeout: 1_000 }, (res) => {
      res.resume();
      resolve(
        res.statusCode === 200
          ? { available: true, detail: `Docker engine at ${where}` }
          : { available: false, detail: `${where} answered HTTP ${res.statusCode}` },
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error) => resolve({ available: false, detail: `${where}: ${reason(error)}` }));
    req.end();
  });
}

function portOpen(host: string, port: number, where: string): Promise<DockerStatus> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve({ available: true, detail: `Docker engine at ${where}` });
    });
    socket.once("timeout", () => socket.destroy(new Error("timed out")));
    socket.once("error", (error) =>
      resolve({ available: false, detail: `${where}: ${reason(error)}` }),
    );
  });
}

function reason(error: Error): string {
  return (error as NodeJS.ErrnoException).code ?? error.message;
}
