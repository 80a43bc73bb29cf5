import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, loadConfig } from "../src/config/load.ts";
import { resolveSecret, SecretError, secret } from "../src/config/secret.ts";
import { createLogger } from "../src/logger.ts";

const dir = mkdtempSync(join(tmpdir(), "entente-secret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The problems of a configuration that fails to load, as `origin: path: message` lines. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) {
      return err.problems.map((p) => `${p.origin}: ${p.path}: ${p.message}`);
    }
    throw err;
  }
  throw new Error("the configuration loaded");
}

describe("resolveSecret", () => {
  it("takes a literal as it is", () => {
    expect(resolveSecret("s3cret")).toBe("s3cret");
  });

  it("reads a variable of the given environment", () => {
    expect(resolveSecret({ env: "PASS" }, { PASS: "from-env" })).toBe("from-env");
  });

  it("reads a file without its trailing newline", () => {
    expect(resolveSecret({ file: file("pass", "from-file\n") })).toBe("from-file");
    expect(resolveSecret({ file: file("crlf", "crlf-file\r\n") })).toBe("crlf-file");
    expect(resolveSecret({ file: file("inner", "two\nlines\n") })).toBe("two\nlines");
  });

  it("names the variable or file it cannot read", () => {
    expect(() => resolveSecret({ env: "NOT_SET" }, {})).toThrow(
      new SecretError("environment variable NOT_SET is not set"),
    );
    expect(() => resolveSecret({ env: "EMPTY" }, { EMPTY: "" })).toThrow(/EMPTY is empty/);
    const missing = join(dir, "missing");
    expect(() => resolveSecret({ file: missing })).toThrow(
      `cannot read secret file ${missing}: no such file`,
    );
    expect(() => resolveSecret({ file: file("empty", "\n") })).toThrow(/is empty/);
  });
});

describe("secret settings in the configuration", () => {
  it("are read when the configuration loads, from the environment it is given", () => {
    const passFile = file("nats-pass", "pass-from-file\n");
    const { config } = loadConfig({
      text: `nats:\n  pass: { file: ${passFile} }\n  token: { env: NATS_TOKEN }\n`,
      env: { NATS_TOKEN: "token-from-env" },
    });
    expect(config.nats.pass).toBe("pass-from-file");
    expect(config.nats.token).toBe("token-from-env");
  });

  it("still take a literal, and ENTENTE_NATS__PASS as written", () => {
    expect(loadConfig({ text: "nats: { pass: literal }\n", env: {} }).config.nats.pass).toBe(
      "literal",
    );
    // YAML would read 0123 as a number; a password is kept as written.
    const { config } = loadConfig({ env: { ENTENTE_NATS__PASS: "0123" } });
    expect(config.nats.pass).toBe("0123");
    const fromFile = loadConfig({
      env: { ENTENTE_NATS__TOKEN: `{file: ${file("tok", "t0k\n")}}` },
    });
    expect(fromFile.config.nats.token).toBe("t0k");
    // Braces alone do not make a reference.
    expect(loadConfig({ env: { ENTENTE_NATS__PASS: "{p4ss}" } }).config.nats.pass).toBe("{p4ss}");
  });

  it("that cannot be read stop the load at their place, naming the variable, never a value", () => {
    const problems = problemsOf(() =>
      loadConfig({
        text: "nats:\n  user: worker\n  pass: { env: WORKER_PASSWORD }\n",
        env: { OTHER: "do-not-show" },
      }),
    );
    expect(problems).toEqual([
      "(inline configuration):3:9: nats.pass: environment variable WORKER_PASSWORD is not set",
    ]);
    const missing = join(dir, "nope");
    expect(
      problemsOf(() => loadConfig({ env: { ENTENTE_NATS__TOKEN: `{file: ${missing}}` } })),
    ).toEqual([
      `environment ENTENTE_NATS__TOKEN: nats.token: cannot read secret file ${missing}: no such file`,
    ]);
  });

  it("refuse a mapping that is neither form", () => {
    const problems = problemsOf(() => loadConfig({ text: "nats: { pass: { vault: x } }\n" }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\(inline configuration\):1:15: nats\.pass: /);
  });

  it("work in any schema, outside a configuration too", () => {
    const schema = z.object({ password: secret });
    expect(schema.parse({ password: { env: "HOME" } }).password).toBe(process.env.HOME);
    expect(schema.safeParse({ password: { env: "ENTENTE_SURELY_UNSET" } }).error?.issues).toEqual([
      expect.objectContaining({
        path: ["password"],
        message: "environment variable ENTENTE_SURELY_UNSET is not set",
      }),
    ]);
  });
});

describe("logs", () => {
  it("mask secret fields however deep a logged object holds them", () => {
    const lines: string[] = [];
    const logger = createLogger({
      service: "secret-test",
      destination: { write: (line: string) => void lines.push(line) },
    });
    logger.info(
      {
        pass: "p1",
        nats: { pass: "p2", token: "t1", user: "worker" },
        link: { upstream: { pass: "p3", url: "nats://h:4222" } },
        password: "p4",
        a: { b: { c: { seed: "SUAAA" } } },
      },
      "settings",
    );
    const text = lines.join("");
    for (const value of ["p1", "p2", "t1", "p3", "p4", "SUAAA"]) {
      expect(text).not.toContain(`"${value}"`);
    }
    expect(text).toContain('"user":"worker"');
    expect(text).toContain('"url":"nats://h:4222"');
  });
});
