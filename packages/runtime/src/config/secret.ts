/**
 * A secret setting (a password, a token): the value itself, `{ env: VARIABLE }` or
 * `{ file: /path }` (one trailing newline trimmed). Errors name the variable or the file, never
 * the value.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

/** Where a secret comes from, before it is read. */
export const secretReferenceSchema = z.union([
  z.string(),
  z.strictObject({ env: z.string().min(1, "name a variable") }),
  z.strictObject({ file: z.string().min(1, "name a file") }),
]);

export type SecretReference = z.output<typeof secretReferenceSchema>;

export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretError";
  }
}

/** Reads a secret now; throws a `SecretError` naming the variable or file when it cannot. */
export function resolveSecret(
  reference: SecretReference,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (typeof reference === "string") return reference;
  if ("env" in reference) {
    const value = env[reference.env];
    if (value === undefined) {
      throw new SecretError(`environment variable ${reference.env} is not set`);
    }
    if (value === "") throw new SecretError(`environment variable ${reference.env} is empty`);
    return value;
  }
  let text: string;
  try {
    text = readFileSync(reference.file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : (code ?? "unreadable");
    throw new SecretError(`cannot read secret file ${reference.file}: ${reason}`);
  }
  const value = text.replace(/\r?\n$/, "");
  if (value === "") throw new SecretError(`secret file ${reference.file} is empty`);
  return value;
}

// The environment that `secret` reads while a configuration is being validated. Validation is
// synchronous, so a plain variable set around it is enough.
let validationEnv: NodeJS.ProcessEnv | undefined;

/** Runs `validate` with `{ env: … }` secrets read from `env` instead of `process.env`. */
export function withSecretEnv<T>(env: NodeJS.ProcessEnv, validate: () => T): T {
  const previous = validationEnv;
  validationEnv = env;
  try {
    return validate();
  } finally {
    validationEnv = previous;
  }
}

/** A secret setting, read as the configuration is validated: its output is the value. */
export const secret = secretReferenceSchema.transform((reference, ctx): string => {
  try {
    return resolveSecret(reference, validationEnv ?? process.env);
  } catch (err) {
    if (!(err instanceof SecretError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
    return z.NEVER;
  }
});

/** Whether `schema` (or the schema it makes optional) is a `secret` setting. */
export function isSecretSchema(schema: unknown): boolean {
  let node = schema as { _zod?: { def?: { innerType?: unknown } } } | undefined;
  for (let depth = 0; node && depth < 4; depth++) {
    if (node === (secret as unknown)) return true;
    node = node._zod?.def?.innerType as typeof node;
  }
  return false;
}
