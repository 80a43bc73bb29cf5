/**
 * The deployment files, checked without a container engine: docker-compose.yml against the
 * Compose specification's schema and the rules this project keeps (healthchecks, restart
 * policies, readiness-gated start order, a NATS with a fixed server_name and a JetStream
 * volume); the Dockerfile's layer order (lockfile and manifests, install, then sources) and its
 * non-root user; and the lockfile's native packages for every platform developers and images
 * run on.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, posix, resolve } from "node:path";
import { regionRouterSchema } from "@entente/region-router";
import { loadConfig } from "@entente/runtime";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = resolve(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
  interval?: string;
  timeout?: string;
  retries?: number;
}

interface ComposeService {
  profiles?: string[];
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition: string; required?: boolean }>;
  healthcheck?: Healthcheck;
  restart?: string;
  ports?: Array<string | { host_ip?: string; target: number; published?: string | number }>;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read("docker-compose.yml")) as Compose;
const services = Object.entries(compose.services);

/** The official compose-spec schema, as the `dclint` package ships it. */
function composeSchema(): Record<string, unknown> {
  const dclint = dirname(createRequire(import.meta.url).resolve("dclint/package.json"));
  const schema = JSON.parse(readFileSync(join(dclint, "schemas/compose.schema.json"), "utf8"));
  // Its `$schema` names draft-07 by an address Ajv does not register; the draft is the default.
  delete schema.$schema;
  return schema;
}

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf("=");
        return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? "" : String(v)]));
}

function words(command: string | string[] | undefined): string[] {
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
}

/** The value after the first of `flags` in `args`, or `--flag=value`. */
function flagValue(args: string[], flags: string[]): string | undefined {
  for (const [index, arg] of args.entries()) {
    if (flags.includes(arg)) return args[index + 1];
    const eq = arg.indexOf("=");
    if (eq > 0 && flags.includes(arg.slice(0, eq))) return arg.slice(eq + 1);
  }
  return undefined;
}

/** Named-volume mounts as [volume, target]; bind mounts are left out. */
function namedVolumeMounts(service: ComposeService): Array<[string, string]> {
  return (service.volumes ?? []).flatMap((mount): Array<[string, string]> => {
    if (typeof mount === "string") {
      const [source, target] = mount.split(":");
      return source && target && !/^[./~]/.test(source) ? [[source, target]] : [];
    }
    return mount.type === "volume" && mount.source ? [[mount.source, mount.target]] : [];
  });
}

describe("docker-compose.yml", () => {
  it("is valid against the Compose specification", () => {
    const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
    const validate = ajv.compile(composeSchema());
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it.each(services)("%s has a healthcheck", (_name, service) => {
    const check = service.healthcheck;
    expect(check).toBeDefined();
    expect(check?.disable).not.toBe(true);
    const test = words(check?.test);
    expect(test.length).toBeGreaterThan(1);
    expect(["CMD", "CMD-SHELL"]).toContain(test[0]);
    expect(check?.interval).toBeDefined();
    expect(check?.timeout).toBeDefined();
    expect(check?.retries).toBeGreaterThan(0);
  });

  it.each(services)("%s publishes its ports on the host's loopback only", (_name, service) => {
    // The databases accept any user without a password.
    for (const port of service.ports ?? []) {
      expect(typeof port === "string" ? port : port.host_ip).toMatch(/^127\.0\.0\.1\b/);
    }
  });

  it.each(services)("%s restarts after a crash", (_name, service) => {
    expect(service.restart).toMatch(/^(always|unless-stopped|on-failure(:\d+)?)$/);
  });

  it.each(services)("%s starts only once its dependencies are ready", (name, service) => {
    const dependsOn = service.depends_on ?? {};
    // The list form means `service_started`: the process runs, not that it answers.
    expect(Array.isArray(dependsOn), `${name}: depends_on as a list`).toBe(false);
    for (const [dependency, { condition }] of Object.entries(dependsOn)) {
      expect(compose.services[dependency], `${name} depends on ${dependency}`).toBeDefined();
      expect(["service_healthy", "service_completed_successfully"]).toContain(condition);
      if (condition === "service_healthy") {
        expect(compose.services[dependency]?.healthcheck).toBeDefined();
      }
    }
  });

  /** Every NATS server of the file: `nats`, and one per region of the `regions` profile. */
  const natsServices = services.filter(([, service]) => service.image?.startsWith("nats:"));

  it("has the root's NATS and one per region of the regions profile", () => {
    expect(natsServices.map(([name]) => name).sort()).toEqual([
      "nats",
      "nats-ap",
      "nats-eu",
      "nats-us",
    ]);
  });

  it.each(natsServices)(
    "%s runs with a fixed server_name and JetStream on a named volume",
    (_name, nats) => {
      const args = words(nats.command);
      // docs/broker-bridge.md: a generated server name changes with every restart.
      expect(flagValue(args, ["--server_name", "-n", "--name"])).toMatch(/^[\w.-]+$/);
      expect(args.some((arg) => arg === "-js" || arg === "--jetstream")).toBe(true);
      const storeDir = flagValue(args, ["-sd", "--store_dir"]);
      expect(storeDir).toBeDefined();
      const mount = namedVolumeMounts(nats).find(
        ([, target]) => storeDir === target || storeDir?.startsWith(`${target}/`),
      );
      expect(mount, "the JetStream store directory is on a named volume").toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(mount?.[0]);
    },
  );

  it("gives every NATS server its own server_name and JetStream volume", () => {
    const names = natsServices.map(([, s]) =>
      flagValue(words(s.command), ["--server_name", "-n", "--name"]),
    );
    expect(new Set(names).size).toBe(natsServices.length);
    const volumes = natsServices.map(([, s]) => namedVolumeMounts(s)[0]?.[0]);
    expect(new Set(volumes).size).toBe(natsServices.length);
  });

  it("gives the worker its NATS and probes, and checks the probe it configures", () => {
    const worker = compose.services.entente;
    expect(worker).toBeDefined();
    const env = environment(worker ?? {});
    // The worker reads these exactly as it would in the container.
    const { config } = loadConfig({ env });
    expect(config.nats.servers).toEqual(["nats://nats:4222"]);
    expect(config.runtime.probePort).toBeGreaterThan(0);
    expect(config.runtime.probeHost).toBe("0.0.0.0");
    const check = words(worker?.healthcheck?.test).join(" ");
    expect(check).toContain(`127.0.0.1:${config.runtime.probePort}/readyz`);
    expect(worker?.depends_on).toMatchObject({ nats: { condition: "service_healthy" } });
  });

  /** A worker's configuration as `entente serve all` loads it from the service's environment. */
  const regionConfigOf = (service: ComposeService | undefined) => {
    const loaded = loadConfig({
      env: environment(service ?? {}),
      sections: { regionRouter: regionRouterSchema },
    });
    return {
      region: loaded.config.region,
      servers: loaded.config.nats.servers,
      router: loaded.section("regionRouter", regionRouterSchema),
    };
  };

  it("makes the default worker the root of the region tree", () => {
    const root = regionConfigOf(compose.services.entente);
    expect(root.region).toEqual({ name: "root", id: 1 });
    expect(root.router.url).toBe("nats://nats:4222");
    expect(root.router.join).toBeUndefined();
    expect(compose.services.entente?.profiles).toBeUndefined();
  });

  it("joins the regions profile's workers to the root, each on its own NATS", () => {
    const regions = {
      "entente-eu": { name: "eu", id: 2, parent: "root", nats: "nats-eu" },
      "entente-us": { name: "us", id: 3, parent: "root", nats: "nats-us" },
      "entente-ap": { name: "ap", id: 4, parent: "eu", nats: "nats-ap" },
    };
    const inProfile = services
      .filter(([, service]) => service.profiles?.includes("regions"))
      .map(([name]) => name)
      .sort();
    expect(inProfile).toEqual([
      "entente-ap",
      "entente-eu",
      "entente-us",
      "nats-ap",
      "nats-eu",
      "nats-us",
    ]);
    for (const [name, expected] of Object.entries(regions)) {
      const service = compose.services[name];
      expect(service, name).toBeDefined();
      expect(words(service?.command)).toEqual(["serve", "all"]);
      // The worker reads these exactly as it would in the container.
      const { region, servers, router } = regionConfigOf(service);
      expect(region).toEqual({ name: expected.name, id: expected.id, parent: expected.parent });
      expect(servers).toEqual([`nats://${expected.nats}:4222`]);
      expect(router.url).toBe(`nats://${expected.nats}:4222`);
      expect(router.join).toBe("nats://nats:4222");
      // Its own NATS and the root's, ready before it starts, and its parent's worker.
      expect(service?.depends_on).toMatchObject({
        [expected.nats]: { condition: "service_healthy" },
        nats: { condition: "service_healthy" },
        [expected.parent === "root" ? "entente" : `entente-${expected.parent}`]: {
          condition: "service_healthy",
        },
      });
      const check = words(service?.healthcheck?.test).join(" ");
      expect(check).toContain(
        `127.0.0.1:${loadConfig({ env: environment(service ?? {}) }).config.runtime.probePort}/readyz`,
      );
    }
    // Region ids and names are unique across the tree.
    const all = [
      compose.services.entente,
      ...Object.keys(regions).map((n) => compose.services[n]),
    ].map((s) => regionConfigOf(s).region);
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
    expect(new Set(all.map((r) => r.name)).size).toBe(all.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

/** Stages of instructions, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  const stages: Stage[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === "FROM") {
      const [base = "", as, name] = args.split(/\s+/).filter((word) => !word.startsWith("--"));
      stages.push({ name: as?.toUpperCase() === "AS" ? name : undefined, base, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: upper, args: args.replace(/\s+/g, " ") });
    }
  }
  return stages;
}

/** A stage's instructions after those of the stages it is built on. */
function lineage(stages: Stage[], stage: Stage): Instruction[] {
  const parent = stages.find((s) => s.name !== undefined && s.name === stage.base);
  return [...(parent ? lineage(stages, parent) : []), ...stage.instructions];
}

/** COPY sources and destination; `from` is set for a copy from another stage or image. */
function copyOf(instruction: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = instruction.args.split(" ");
  const flags = words.filter((word) => word.startsWith("--"));
  const paths = words.filter((word) => !word.startsWith("--"));
  const from = flags.find((flag) => flag.startsWith("--from="))?.slice("--from=".length);
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
}

/** Where a copied file lands, relative to WORKDIR. */
function landsAt(source: string, dest: string): string {
  const into = dest === "." || dest.endsWith("/");
  return into ? posix.normalize(posix.join(dest, posix.basename(source))) : posix.normalize(dest);
}

const isCopy = (i: Instruction) => i.keyword === "COPY" || i.keyword === "ADD";
const isContextCopy = (i: Instruction) => isCopy(i) && copyOf(i).from === undefined;
/** Reads the lockfile alone (`pnpm fetch`) or installs from it. */
const isLockfileInstall = (i: Instruction) =>
  i.keyword === "RUN" && /\bpnpm (fetch|install)\b/.test(i.args);
const isInstall = (i: Instruction) => i.keyword === "RUN" && /\bpnpm install\b/.test(i.args);

/** The files an install needs: the lockfile, the workspace file and every manifest. */
const DEPENDENCY_INPUTS = /(^|\/)(package\.json|pnpm-lock\.yaml|pnpm-workspace\.yaml|\.npmrc)$/;

function workspaceManifests(): string[] {
  const inDirs = ["packages", "services"].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${dir}/${entry.name}/package.json`)
      .filter((path) => existsSync(join(ROOT, path))),
  );
  return ["package.json", "test/package.json", ...inDirs];
}

/** A .dockerignore pattern as a regular expression over slash-separated context paths. */
function ignoreRegex(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, "")
    .split("**/")
    .map((part) =>
      part
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]"),
    )
    .join("(?:.*/)?");
  return new RegExp(`^${body}$`);
}

/** Whether `path` (or a folder above it) matches a .dockerignore pattern. */
function dockerIgnored(path: string, patterns: string[]): boolean {
  const regexes = patterns.map(ignoreRegex);
  const segments = path.replace(/^\.\//, "").replace(/\/$/, "").split("/");
  return segments.some((_, index) => {
    const prefix = segments.slice(0, index + 1).join("/");
    return regexes.some((regex) => regex.test(prefix));
  });
}

describe("Dockerfile", () => {
  const stages = parseDockerfile(read("Dockerfile"));
  const final = stages.at(-1);
  const buildStage = stages.find((stage) =>
    stage.instructions.some((i) => i.keyword === "RUN" && /\bpnpm (run )?build\b/.test(i.args)),
  );

  it("has a stage that builds, and a final stage", () => {
    expect(buildStage).toBeDefined();
    expect(final).toBeDefined();
  });

  it("installs from the lockfile and every manifest before copying the sources", () => {
    const steps = lineage(stages, buildStage as Stage);
    const firstLockfileStep = steps.findIndex(isLockfileInstall);
    const firstInstall = steps.findIndex(isInstall);
    expect(firstLockfileStep).toBeGreaterThanOrEqual(0);
    expect(firstInstall).toBeGreaterThanOrEqual(0);
    // Context paths copied before a step, each to the same path under WORKDIR.
    const copiedBefore = (index: number) =>
      steps
        .slice(0, index)
        .filter(isContextCopy)
        .flatMap((i) => {
          const { sources, dest } = copyOf(i);
          return sources.filter((source) => landsAt(source, dest) === source);
        });
    expect(copiedBefore(firstLockfileStep)).toContain("pnpm-lock.yaml");
    expect(copiedBefore(firstInstall)).toEqual(
      expect.arrayContaining(["pnpm-lock.yaml", "pnpm-workspace.yaml", ...workspaceManifests()]),
    );
    // Anything else from the build context comes after the install, so that editing a source
    // file reuses the installed layers.
    const early = steps
      .slice(0, firstInstall)
      .filter(isContextCopy)
      .flatMap((i) => copyOf(i).sources)
      .filter((source) => !DEPENDENCY_INPUTS.test(source));
    expect(early).toEqual([]);
    for (const install of stages.flatMap((stage) => stage.instructions).filter(isInstall)) {
      expect(install.args).toContain("--frozen-lockfile");
    }
  });

  it("installs the pnpm that scripts/run.sh installs, so both read the lockfile alike", () => {
    const version = /^pnpm_version="([^"]+)"/m.exec(read("scripts/run.sh"))?.[1];
    expect(version).toBeDefined();
    const installs = stages
      .flatMap((stage) => stage.instructions)
      .filter((i) => i.keyword === "RUN")
      .flatMap((i) => [...i.args.matchAll(/\bpnpm@(\S+)/g)].map((match) => match[1]));
    expect(installs.length).toBeGreaterThan(0);
    for (const installed of installs) expect(installed).toBe(version);
  });

  it("copies only paths that exist and that .dockerignore lets through", () => {
    const ignore = read(".dockerignore")
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith("!"));
    const sources = stages.flatMap((stage) =>
      stage.instructions.filter(isContextCopy).flatMap((i) => copyOf(i).sources),
    );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      expect(dockerIgnored(source, ignore), `${source} is not in .dockerignore`).toBe(false);
    }
    // Stale build state must not reach the build: a copied *.tsbuildinfo makes `tsc -b` skip
    // emitting dist/.
    for (const path of [
      "node_modules",
      "packages/runtime/node_modules",
      "packages/runtime/dist",
      "packages/runtime/tsconfig.tsbuildinfo",
    ]) {
      expect(dockerIgnored(path, ignore), `${path} is in .dockerignore`).toBe(true);
    }
  });

  it("ships every built package, with production dependencies only", () => {
    const steps = final?.instructions ?? [];
    const fromStages = steps.filter(isCopy).map(copyOf);
    const shipped = fromStages.flatMap((copy) => (copy.from ? copy.sources : []));
    // What `tsc -b` builds: the projects the root tsconfig.json references.
    const built = (
      JSON.parse(read("tsconfig.json")) as { references: Array<{ path: string }> }
    ).references.map((reference) => posix.normalize(reference.path));
    expect(built).toContain("packages/server");
    for (const pkg of built) {
      expect(
        shipped.some((source) => source.replace(/^\/app\//, "") === `${pkg}/dist`),
        `${pkg}/dist is in the image`,
      ).toBe(true);
    }
    expect(shipped.map((source) => source.replace(/^\/app\//, ""))).toContain(
      "packages/server/bin",
    );
    // Whatever else comes from another stage is the dependency tree: every install that made
    // it leaves devDependencies out.
    const depsStages = fromStages
      .filter((copy) => copy.from !== undefined)
      .filter((copy) => copy.sources.some((source) => !/\/(dist|bin)$/.test(source)))
      .map((copy) => stages.find((stage) => stage.name === copy.from));
    expect(depsStages.length).toBeGreaterThan(0);
    for (const stage of depsStages) {
      expect(stage, "copied from a stage of this Dockerfile").toBeDefined();
      const installs = lineage(stages, stage as Stage).filter(isInstall);
      expect(installs.length).toBeGreaterThan(0);
      for (const install of installs) expect(install.args).toMatch(/--prod\b/);
    }
  });

  it("runs the entente executable as a user other than root", () => {
    const steps = final?.instructions ?? [];
    const entrypoint = steps.findIndex((i) => i.keyword === "ENTRYPOINT");
    expect(entrypoint).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(steps[entrypoint]?.args ?? "null")).toEqual([
      "node",
      "packages/server/bin/entente.js",
    ]);
    const users = steps.filter((i) => i.keyword === "USER");
    expect(users.length, "a USER in the final stage").toBeGreaterThan(0);
    expect(steps.indexOf(users[0] as Instruction), "a USER before ENTRYPOINT").toBeLessThan(
      entrypoint,
    );
    // The last USER of the stage is the one the container runs as.
    expect(users.at(-1)?.args.split(":")[0]).toMatch(/^(?!root$|0$)\S+$/);
    expect(JSON.parse(steps.find((i) => i.keyword === "CMD")?.args ?? "null")).toEqual([
      "serve",
      "all",
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// pnpm-lock.yaml

interface LockPackage {
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

interface Lockfile {
  packages: Record<string, LockPackage>;
  snapshots: Record<string, { optionalDependencies?: Record<string, string> }>;
}

interface Platform {
  os: string;
  cpu: string;
  libc?: string;
}

/** Where developers, CI and the image run. */
const PLATFORMS: Platform[] = [
  { os: "linux", cpu: "x64", libc: "glibc" },
  { os: "linux", cpu: "arm64", libc: "glibc" },
  { os: "linux", cpu: "x64", libc: "musl" },
  { os: "linux", cpu: "arm64", libc: "musl" },
  { os: "darwin", cpu: "x64" },
  { os: "darwin", cpu: "arm64" },
];
const describePlatform = (p: Platform) => [p.os, p.cpu, p.libc].filter(Boolean).join("-");

/** pnpm's rule: a field that is absent allows all; `!x` excludes x. */
function allows(field: string[] | undefined, value: string | undefined): boolean {
  if (field === undefined || value === undefined) return true;
  if (field.includes(`!${value}`)) return false;
  const positive = field.filter((entry) => !entry.startsWith("!"));
  return positive.length === 0 || positive.includes(value);
}

const runsOn = (pkg: LockPackage, p: Platform) =>
  allows(pkg.os, p.os) && allows(pkg.cpu, p.cpu) && allows(pkg.libc, p.libc);

describe("pnpm-lock.yaml", () => {
  const lock = parse(read("pnpm-lock.yaml")) as Lockfile;

  it("asks pnpm to resolve native packages for every platform", () => {
    const workspace = parse(read("pnpm-workspace.yaml")) as {
      supportedArchitectures?: Record<string, string[]>;
    };
    expect(workspace.supportedArchitectures?.os).toEqual(
      expect.arrayContaining(["linux", "darwin"]),
    );
    expect(workspace.supportedArchitectures?.cpu).toEqual(expect.arrayContaining(["x64", "arm64"]));
    expect(workspace.supportedArchitectures?.libc).toEqual(
      expect.arrayContaining(["glibc", "musl"]),
    );
  });

  it.each([
    "@duckdb/node-bindings-linux-x64",
    "@duckdb/node-bindings-linux-arm64",
    "@duckdb/node-bindings-linux-x64-musl",
    "@duckdb/node-bindings-linux-arm64-musl",
    "@duckdb/node-bindings-darwin-x64",
    "@duckdb/node-bindings-darwin-arm64",
    "@biomejs/cli-linux-x64",
    "@biomejs/cli-linux-arm64",
    "@biomejs/cli-linux-x64-musl",
    "@biomejs/cli-linux-arm64-musl",
    "@biomejs/cli-darwin-x64",
    "@biomejs/cli-darwin-arm64",
    "@msgpackr-extract/msgpackr-extract-linux-x64",
    "@msgpackr-extract/msgpackr-extract-linux-arm64",
    "@msgpackr-extract/msgpackr-extract-darwin-x64",
    "@msgpackr-extract/msgpackr-extract-darwin-arm64",
  ])("locks %s", (name) => {
    expect(Object.keys(lock.packages).some((key) => key.startsWith(`${name}@`))).toBe(true);
  });

  it("locks, for every package with per-platform binaries, one for each platform", () => {
    const missing: string[] = [];
    for (const [key, snapshot] of Object.entries(lock.snapshots)) {
      const optional = Object.entries(snapshot.optionalDependencies ?? {}).map(
        ([name, version]) => lock.packages[`${name}@${version.replace(/\(.*$/, "")}`],
      );
      const binaries = optional.filter(
        (pkg): pkg is LockPackage => pkg !== undefined && (pkg.os ?? pkg.cpu) !== undefined,
      );
      // A family of binaries: every optional dependency is for some platform.
      if (binaries.length < 2 || binaries.length !== optional.length) continue;
      for (const platform of PLATFORMS) {
        if (!binaries.some((pkg) => runsOn(pkg, platform))) {
          missing.push(`${key}: ${describePlatform(platform)}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
