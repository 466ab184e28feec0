/**
 * `openssl speed`, run in the same bench as a reference for what one core can do: AES-256-CBC
 * encryption, HMAC-SHA256 and AES-256-GCM, single process, one second each, one block size.
 * Parsed from the machine-readable output (`-mr`): `+F:<n>:<algorithm>:<bytes per second>`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OpensslSpeed {
  /** Bytes per µs (= MB/s), or null if openssl could not run. */
  readonly cbc: number | null;
  readonly cbcDecrypt: number | null;
  readonly hmac: number | null;
  readonly gcm: number | null;
  readonly blockSize: number;
}

export function parseSpeed(output: string): number | null {
  for (const line of output.split('\n')) {
    const m = /^\+F:\d+:[^:]+:([0-9.]+)/.exec(line.trim());
    if (m) return Number(m[1]) / 1e6;
  }
  return null;
}

async function speed(args: string[], log: (line: string) => void): Promise<number | null> {
  try {
    const { stdout } = await run('openssl', ['speed', '-mr', '-seconds', '1', ...args], { timeout: 30_000 });
    const v = parseSpeed(stdout);
    if (v === null) log(`  openssl speed ${args.join(' ')}: output not understood`);
    return v;
  } catch (err) {
    log(`  openssl speed ${args.join(' ')}: n/a (${(err as Error).message.split('\n')[0]})`);
    return null;
  }
}

/** Runs the four measurements one after the other (never concurrently: one core each). */
export async function opensslSpeed(blockSize: number, log: (line: string) => void): Promise<OpensslSpeed> {
  const bytes = ['-bytes', String(blockSize)];
  const cbc = await speed(['-evp', 'aes-256-cbc', ...bytes], log);
  const cbcDecrypt = await speed(['-evp', 'aes-256-cbc', '-decrypt', ...bytes], log);
  const hmac = await speed(['-hmac', 'sha256', ...bytes], log);
  const gcm = await speed(['-evp', 'aes-256-gcm', ...bytes], log);
  return { cbc, cbcDecrypt, hmac, gcm, blockSize };
}

/** The rate of one core doing both passes of encrypt-then-MAC: 1 / (1/cipher + 1/mac). */
export function etmCeiling(cipher: number | null, mac: number | null): number | null {
  return cipher && mac ? 1 / (1 / cipher + 1 / mac) : null;
}
