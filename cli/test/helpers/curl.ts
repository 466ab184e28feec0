/** curl, the real program, as the tunnel tests run it: its output hashed, never kept. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { ExecutionContext } from 'ava';
import { killAtExit, programPath } from './programs.js';
import { within } from './tcp-client.js';

/**
 * `curl -sS --fail [extra…] --max-time S URL`, stdout hashed: [exit status, sha256 hex,
 * bytes, stderr]. Killed at the test's end; waited for at most `seconds` + 30.
 */
export async function curlHashed(
  t: ExecutionContext,
  url: string,
  { seconds, extra = [] }: { readonly seconds: number; readonly extra?: readonly string[] },
): Promise<[number | null, string, number, string]> {
  const child = spawn(programPath('curl'), ['-sS', '--fail', ...extra, '--max-time', String(seconds), url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killAtExit(child);
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const hash = createHash('sha256');
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await pipeline(child.stdout, hash);
  return [await within(exited, (seconds + 30) * 1000, 'curl to exit'), hash.digest('hex'), bytes, stderr];
}
