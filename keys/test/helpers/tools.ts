/**
 * Test helpers: temporary directories and the real openssl / ssh-keygen binaries.
 * Nothing here fakes a result; every helper runs the tool and returns what it printed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a child process did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without a shell; never rejects on a non-zero exit. */
export function runTool(
  file: string,
  args: readonly string[],
  options: { input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a program and throws with its stderr unless it exits 0. */
export async function mustRun(
  file: string,
  args: readonly string[],
  options: { input?: string } = {},
): Promise<string> {
  const result = await runTool(file, args, options);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Runs openssl. */
export function openssl(...args: string[]): Promise<string> {
  return mustRun('openssl', args);
}

/** Runs ssh-keygen quietly. */
export function sshKeygen(...args: string[]): Promise<string> {
  return mustRun('ssh-keygen', args);
}

/** The fingerprint `ssh-keygen -l -E sha256 -f FILE` prints (second field). */
export async function sshFingerprint(file: string): Promise<string> {
  const line = await mustRun('ssh-keygen', ['-l', '-E', 'sha256', '-f', file]);
  const field = line.trim().split(/\s+/)[1];
  if (field === undefined || !field.startsWith('SHA256:'))
    throw new Error(`unexpected ssh-keygen output: ${line}`);
  return field;
}

/**
 * Fingerprint of an SPKI or PKCS#1 PEM public key as OpenSSH sees it: ssh-keygen cannot
 * read PEM public keys with `-l`, so import it with `-i -m PKCS8` first.
 */
export async function sshFingerprintOfPemPublic(file: string): Promise<string> {
  const line = await mustRun('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', file]);
  const out = await mustRun('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: line });
  const field = out.trim().split(/\s+/)[1];
  if (field === undefined) throw new Error(`unexpected ssh-keygen output: ${out}`);
  return field;
}

/** A fresh temporary directory and a function that removes it. */
export async function makeTempDir(
  prefix = 'secsess-keys-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** True when running as root, which can read any file regardless of its mode. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
