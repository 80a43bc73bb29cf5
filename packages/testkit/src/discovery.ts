import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { type DockerStatus, dockerStatus } from "./docker.ts";

/**
 * Where services are looked for. Every part can be replaced, so a test can simulate a machine
 * with nothing installed without touching the real one.
 */
export interface DiscoveryOptions {
  /** Where the `ENTENTE_TEST_*_URL` variables are read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * PATH-style list of directories searched for server binaries. Default: PATH, the sbin
   * directories and the places packages install servers to (e.g. /usr/lib/postgresql/17/bin).
   * An explicit value is searched alone.
   */
  path?: string;
  /** Whether Docker may be used; default: ping the engine's socket. */
  docker?: boolean;
}

export interface Discovery {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The environment URL for `name`, if set and not empty. */
  url(name: string): string | undefined;
  /**
   * The first of `names` found as an executable file. `knownDirs` (only used when no explicit
   * path was given) are extra places a package manager puts that server.
   */
  findBinary(names: readonly string[], knownDirs?: readonly string[]): Promise<string | undefined>;
  /** The directories `findBinary` searches, for messages. */
  searchPath(knownDirs?: readonly string[]): string[];
  docker(): Promise<DockerStatus>;
}

const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

export function discovery(options: DiscoveryOptions = {}): Discovery {
  const env = options.env ?? process.env;
  const explicitPath = options.path;
  const searchPath = (knownDirs: readonly string[] = []): string[] => {
    const dirs =
      explicitPath !== undefined
        ? explicitPath.split(delimiter)
        : [...(process.env.PATH ?? "").split(delimiter), ...SBIN_DIRS, ...knownDirs];
    return [...new Set(dirs.filter((dir) => dir !== ""))];
  };
  return {
    env,
    url: (name) => {
      const value = env[name]?.trim();
      return value === undefined || value === "" ? undefined : value;
    },
    searchPath,
    async findBinary(names, knownDirs) {
      const dirs = searchPath(knownDirs);
      for (const name of names) {
        for (const dir of dirs) {
          const candidate = join(dir, name);
          if (await isExecutable(candidate)) return candidate;
        }
      }
      return undefined;
    },
    docker: () =>
      options.docker === undefined
        ? dockerStatus()
        : Promise.resolve({
            available: options.docker,
            detail: options.docker
              ? "Docker enabled by the caller"
              : "Docker disabled by the caller",
          }),
  };
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** What a test needs to know to make a service available. */
export interface ServiceInfo {
  /** e.g. "PostgreSQL" */
  title: string;
  /** e.g. "ENTENTE_TEST_POSTGRES_URL" */
  envVar: string;
  /** A URL that shows the expected form. */
  envExample: string;
  /** What to install, with package names. */
  install: string;
  /** Container image used through testcontainers. */
  image: string;
}

/** Returned by a start step that cannot run on this machine, with the reason. */
export interface Unavailable {
  readonly unavailable: string;
}

export function unavailable(reason: string): Unavailable {
  return { unavailable: reason };
}

function isUnavailable(value: unknown): value is Unavailable {
  return typeof value === "object" && value !== null && "unavailable" in value;
}

export interface ServiceStarters<T> {
  /** Use a server someone else runs. */
  fromUrl(url: string): Promise<T>;
  /** Start a local binary, or say why that cannot work here. */
  fromBinary(): Promise<T | Unavailable>;
  /** Start a container. */
  fromContainer(): Promise<T>;
}

/** No way to get the service; the message lists what was tried and what to install. */
export class ServiceUnavailableError extends Error {
  readonly service: string;
  readonly tried: readonly string[];

  constructor(info: ServiceInfo, tried: readonly string[]) {
    super(
      [
        `No ${info.title} available for tests. Tried, in order:`,
        ...tried.map((reason, i) => `  ${i + 1}. ${reason}`),
        "Do one of:",
        `  - set ${info.envVar} to a running server, e.g. ${info.envVar}=${info.envExample}`,
        `  - install ${info.install}`,
        `  - install and start Docker, so testcontainers can run ${info.image}`,
      ].join("\n"),
    );
    this.name = "ServiceUnavailableError";
    this.service = info.title;
    this.tried = tried;
  }
}

/**
 * The discovery order of the design notes: a URL from the environment, else a local binary,
 * else a container. A binary that exists but fails to start is an error, not a reason to move
 * on: silently switching to Docker would hide a broken setup.
 */
export async function discoverService<T>(
  info: ServiceInfo,
  found: Discovery,
  starters: ServiceStarters<T>,
): Promise<T> {
  const url = found.url(info.envVar);
  if (url !== undefined) return starters.fromUrl(url);
  const tried = [`${info.envVar} is not set`];

  const local = await starters.fromBinary();
  if (!isUnavailable(local)) return local;
  tried.push(`local server binary: ${local.unavailable}`);

  const docker = await found.docker();
  if (docker.available) return starters.fromContainer();
  tried.push(`Docker (testcontainers, image ${info.image}): ${docker.detail}`);

  throw new ServiceUnavailableError(info, tried);
}

/** The reason used when binaries are missing. */
export function notFound(names: readonly string[], dirs: readonly string[]): Unavailable {
  const where = dirs.length === 0 ? "an empty search path" : dirs.join(delimiter);
  return unavailable(`${names.join(" / ")} not found in ${where}`);
}
