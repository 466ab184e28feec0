/**
 * Runs several store-writer.ts children at once: spawns them all, waits until each has
 * printed `ready`, releases them together, and collects their one-line JSON results.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WRITER = fileURLToPath(new URL('store-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** What one child printed: `{ ok: … }` on success, `{ code, message }` for a coded error. */
export interface ChildResult {
  ok?: unknown;
  code?: string;
  message?: string;
}

interface Running {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<ChildResult>;
}

function start(args: readonly string[]): Running {
  const child = spawn(process.execPath, ['--import=tsx', '--conditions=source', WRITER, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  // A child that died early closes its stdin; the failure is reported by `done`.
  child.stdin?.on('error', () => {});
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      markReady(); // never leave the barrier waiting on a child that died early
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || last === 'ready' || last === '') {
        reject(new Error(`store-writer ${args.join(' ')} exited ${code}: ${stderr}`));
        return;
      }
      resolve(JSON.parse(last) as ChildResult);
    });
  });
  return { child, ready, done };
}

/** Runs one child per argument list, all released at the same moment. */
export async function runTogether(argLists: readonly (readonly string[])[]): Promise<ChildResult[]> {
  const running = argLists.map(start);
  await Promise.all(running.map((r) => r.ready));
  for (const { child } of running) child.stdin?.end('go\n');
  return Promise.all(running.map((r) => r.done));
}
