import { waitFor } from "./wait.ts";

export interface ContainerSpec {
  image: string;
  /** Container ports to publish on random host ports. */
  ports: readonly number[];
  env?: Record<string, string>;
  command?: readonly string[];
  /** Ready once a log line matches this (`times` occurrences); else once the ports listen. */
  readyLog?: RegExp;
  readyLogTimes?: number;
  startupTimeoutMs?: number;
  /**
   * Polled after start until it resolves (a rejection means "not yet"): some images restart
   * their server once after initialising, so a listening port is not yet a ready server. A
   * container that is not ready within `timeoutMs` (default 120 s) is removed again.
   */
  ready?: {
    what: string;
    check: (container: RunningContainer) => Promise<unknown>;
    timeoutMs?: number;
  };
}

export interface RunningContainer {
  readonly host: string;
  /** The host port mapped to `containerPort`. */
  port(containerPort: number): number;
  exec(command: readonly string[]): Promise<{ exitCode: number; output: string }>;
  /** Stops and removes the container; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a container through testcontainers, loaded only here so machines without Docker never
 * pay for it. testcontainers' own reaper removes the container if the test process dies.
 */
export async function startContainer(spec: ContainerSpec): Promise<RunningContainer> {
  const { GenericContainer, Wait } = await import("testcontainers");
  let container = new GenericContainer(spec.image)
    .withExposedPorts(...spec.ports)
    .withStartupTimeout(spec.startupTimeoutMs ?? 120_000);
  if (spec.env !== undefined) container = container.withEnvironment(spec.env);
  if (spec.command !== undefined) container = container.withCommand([...spec.command]);
  if (spec.readyLog !== undefined) {
    container = container.withWaitStrategy(Wait.forLogMessage(spec.readyLog, spec.readyLogTimes));
  }
  const started = await container.start();
  let stopped: Promise<void> | undefined;
  const running: RunningContainer = {
    host: started.getHost(),
    port: (containerPort) => started.getMappedPort(containerPort),
    async exec(command) {
      const result = await started.exec([...command]);
      return { exitCode: result.exitCode, output: result.output };
    },
    stop() {
      stopped ??= started.stop().then(() => undefined);
      return stopped;
    },
  };
  if (spec.ready) {
    const { what, check, timeoutMs } = spec.ready;
    try {
      await waitFor(what, () => check(running), timeoutMs ?? 120_000);
    } catch (error) {
      await running.stop();
      throw error;
    }
  }
  return running;
}
