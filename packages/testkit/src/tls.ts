/**
 * A throw-away certificate authority for tests: a CA, a server certificate for 127.0.0.1 and
 * localhost, and client certificates, all made with the `openssl` command line.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./process.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";

export interface CertificatePair {
  certFile: string;
  keyFile: string;
}

export interface TestCertificates extends AsyncDisposable {
  /** The directory holding every file; removed by `remove()`. */
  readonly dir: string;
  /** The CA certificate both sides trust. */
  readonly caFile: string;
  /** For the server: subjectAltName 127.0.0.1, ::1 and localhost. */
  readonly server: CertificatePair;
  /** A client certificate signed by the CA, named `CN=<name>`. */
  client(name: string): Promise<CertificatePair>;
  remove(): Promise<void>;
}

export interface MakeCertificatesOptions {
  /** Path of the openssl binary; default `openssl` on PATH. */
  openssl?: string;
  /** Days the certificates are valid; default 2. */
  days?: number;
}

/** Makes a CA and a server certificate in a fresh temp dir. */
export async function makeTestCertificates(
  options: MakeCertificatesOptions = {},
): Promise<TestCertificates> {
  const openssl = options.openssl ?? "openssl";
  const days = String(options.days ?? 2);
  const dir = await makeTempDir("tls");
  const file = (name: string) => join(dir, name);
  const run = (args: string[]) => runCommand(openssl, args, { cwd: dir, timeoutMs: 30_000 });
  const caFile = file("ca.pem");
  const caKey = file("ca-key.pem");

  const sign = async (name: string, subject: string, extensions: string) => {
    const pair = { certFile: file(`${name}.pem`), keyFile: file(`${name}-key.pem`) };
    const csr = file(`${name}.csr`);
    const ext = file(`${name}.ext`);
    await writeFile(ext, extensions);
    await run([
      "req",
      "-new",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      pair.keyFile,
      "-out",
      csr,
      "-subj",
      subject,
    ]);
    await run([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-out",
      pair.certFile,
      "-days",
      days,
      "-sha256",
      "-extfile",
      ext,
    ]);
    return pair;
  };

  try {
    await run([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      caFile,
      "-days",
      days,
      "-sha256",
      "-subj",
      "/CN=entente test CA",
    ]);
    const server = await sign(
      "server",
      "/CN=localhost",
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
        "",
      ].join("\n"),
    );
    let removed = false;
    const remove = async () => {
      if (removed) return;
      removed = true;
      await removeTempDir(dir);
    };
    return {
      dir,
      caFile,
      server,
      client: (name) =>
        sign(
          `client-${name.replaceAll(/[^A-Za-z0-9_-]/g, "_")}`,
          `/CN=${name}`,
          [
            "basicConstraints=CA:FALSE",
            "keyUsage=digitalSignature,keyEncipherment",
            "extendedKeyUsage=clientAuth",
            "",
          ].join("\n"),
        ),
      remove,
      [Symbol.asyncDispose]: remove,
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
