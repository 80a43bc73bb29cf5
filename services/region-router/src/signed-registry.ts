/**
 * Registry snapshots travel signed by the root (Ed25519), so a replica takes the registry only
 * from the root, whoever passes it on: the root's public key is pinned by a region the first
 * time it reads the registry (from the region it joins through), and a snapshot signed with any
 * other key is refused. The root keeps its private key in its own store.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { type RegistrySnapshot, registrySnapshotSchema } from "@entente/protocol";
import { canonicalJson } from "@entente/runtime";
import { z } from "zod";

export const signedSnapshotSchema = z.strictObject({
  snapshot: registrySnapshotSchema,
  /** The root's Ed25519 public key, SPKI DER in base64. */
  key: z.string().min(1).max(200),
  signature: z.string().min(1).max(200),
});
export type SignedSnapshot = z.output<typeof signedSnapshotSchema>;

export interface RootSigner {
  /** The public key replicas pin, SPKI DER in base64. */
  publicKey: string;
  /** The private key, PKCS#8 DER in base64, for the root's store. */
  privateKey: string;
  sign(snapshot: RegistrySnapshot): SignedSnapshot;
}

/** A fresh key pair, or the one the root stored before. */
export function rootSigner(storedPrivateKey?: string): RootSigner {
  const privateKey = storedPrivateKey
    ? createPrivateKey({
        key: Buffer.from(storedPrivateKey, "base64"),
        format: "der",
        type: "pkcs8",
      })
    : generateKeyPairSync("ed25519").privateKey;
  const publicKey = createPublicKey(privateKey)
    .export({ format: "der", type: "spki" })
    .toString("base64");
  return {
    publicKey,
    privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    sign: (snapshot) => ({
      snapshot,
      key: publicKey,
      signature: sign(null, Buffer.from(canonicalJson(snapshot)), privateKey).toString("base64"),
    }),
  };
}

/** Whether `signed` carries the pinned root key and a valid signature; the reason when not. */
export function verifySnapshot(signed: SignedSnapshot, pinnedKey: string): string | undefined {
  if (signed.key !== pinnedKey) return "signed with a key other than the root's";
  try {
    const key = createPublicKey({
      key: Buffer.from(signed.key, "base64"),
      format: "der",
      type: "spki",
    });
    const ok = verify(
      null,
      Buffer.from(canonicalJson(signed.snapshot)),
      key,
      Buffer.from(signed.signature, "base64"),
    );
    return ok ? undefined : "the signature does not match the snapshot";
  } catch (err) {
    return `the signature cannot be checked: ${(err as Error).message}`;
  }
}
