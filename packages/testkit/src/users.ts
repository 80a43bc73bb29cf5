import { readFile } from "node:fs/promises";

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** Whether this process runs as root, where some servers (PostgreSQL) refuse to start. */
export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The first of `names` that exists as a local account (from /etc/passwd). */
export async function findAccount(names: readonly string[]): Promise<Account | undefined> {
  let passwd: string;
  try {
    passwd = await readFile("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  const accounts = new Map<string, Account>();
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name && uid && gid) accounts.set(name, { name, uid: Number(uid), gid: Number(gid) });
  }
  for (const name of names) {
    const account = accounts.get(name);
    if (account !== undefined) return account;
  }
  return undefined;
}
