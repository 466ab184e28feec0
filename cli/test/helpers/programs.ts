/**
 * Real programs for the tunnel tests and the tunnel bench: finds them, starts them on free
 * loopback ports, waits for their readiness, stops them. Nothing here depends on ava: a test
 * registers `stop()` with `t.teardown`, the bench calls it in `finally`. Every child started
 * here is also killed when this process exits, whatever happened (a safety net, not the plan).
 *
 * The services (redis-server, python3 -m http.server, sshd, socat) are in services.ts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** `CI=true` (any value but empty, `0` or `false`): a missing program is a failure, not a skip. */
export const IN_CI = !['', '0', 'false'].includes((process.env['CI'] ?? '').toLowerCase());

/** How long a program may take to say it is ready (a loaded CI machine is slow). */
export const READY_MS = 30_000;

/**
 * How long a program may take to exit after `stop()`'s signal before it gets SIGKILL. As
 * generous as READY_MS: a stop can wait for a start-up under way (`serve --workers` stops its
 * workers once they listen), and a loaded CI machine is slow at both; a SIGKILL shows as a
 * wrong exit, so a short budget makes a test fail that should pass.
 */
export const STOP_MS = 30_000;

/** The absolute path of `name` on PATH (plus /usr/sbin and /sbin, where sshd lives), or null. */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** The path of `name`; throws a clear error naming the package when it is not installed. */
export function programPath(name: string): string {
  const path = findProgram(name);
  if (path === null) throw new Error(`${name} is not installed (.ci/run installs it on Debian)`);
  return path;
}

/** The programs of `names` that are not installed. */
export function missingPrograms(names: readonly string[]): string[] {
  return names.filter((name) => findProgram(name) === null);
}

/** How a child ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running child process whose output is kept (the last MiB of it) for readiness and errors. */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Settles once the child has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** stdout and stderr so far, interleaved, as text (stdout only when captured). */
  output(): string;
  /** Resolves with the first match of `re` in the output; rejects if the child exits or `ms` pass first. */
  waitFor(re: RegExp, what: string, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the first non-undefined result of `check(output)`, re-checked on every chunk. */
  waitUntil<T>(check: (text: string) => T | undefined, what: string, ms?: number): Promise<T>;
  /** SIGTERM (or `signal`), SIGKILL after {@link STOP_MS}; resolves once the child has exited. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Kills `child` (if still running) when this process exits, as spawnProc's children are. */
export function killAtExit(child: ChildProcess): void {
  live.add(child);
  child.once('close', () => live.delete(child));
}

const KEEP = 1024 * 1024;

export interface SpawnProcOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep stdout in `output()` (default true); false leaves `child.stdout` to the caller. */
  readonly captureStdout?: boolean;
  /** stdin: 'ignore' (default) or 'pipe'. */
  readonly stdin?: 'ignore' | 'pipe';
  readonly detached?: boolean;
}

/** Starts `file args` without a shell. */
export function spawnProc(file: string, args: readonly string[], options: SpawnProcOptions = {}): Proc {
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  };
  const child = spawn(file, args, spawnOptions);
  const name = `${file.split('/').pop()} ${args.join(' ')}`.slice(0, 200);
  live.add(child);
  let text = '';
  const waiters = new Set<() => void>();
  const take = (chunk: Buffer | string): void => {
    text += chunk.toString();
    if (text.length > 2 * KEEP) text = text.slice(-KEEP);
    for (const wake of waiters) wake();
  };
  if (options.captureStdout !== false) child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  child.stdin?.on('error', () => {}); // a child that exits early closes its stdin
  let exit: Exit | null = null;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (err) => {
      text += `\n[spawn failed: ${err.message}]`;
      exit = { code: null, signal: null };
      live.delete(child);
      resolve(exit);
      for (const wake of waiters) wake();
    });
    child.once('close', (code, signal) => {
      exit = { code, signal };
      live.delete(child);
      resolve(exit);
      for (const wake of waiters) wake();
    });
  });
  const waitUntil = <T>(test: (text: string) => T | undefined, what: string, ms = READY_MS): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = test(text);
        if (found !== undefined) finish(() => resolve(found));
        else if (exit)
          finish(() => reject(new Error(`${name}: exited (${describe(exit!)}) before ${what}:\n${text}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${name}: no ${what} within ${ms} ms:\n${text}`))),
        ms,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });
  const waitFor = (re: RegExp, what: string, ms = READY_MS): Promise<RegExpMatchArray> =>
    waitUntil((text) => text.match(re) ?? undefined, what, ms);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> => {
    if (exit) return exit;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  return { name, child, exited, output: () => text, waitFor, waitUntil, stop };
}

export function describe(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `status ${exit.code}`;
}

/** A port free on `host` a moment ago (for programs that cannot listen on port 0 and report it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts a program on a free port and waits until `ready` resolves; another process may take
 * the port between freePort() and the bind, so a start that fails is tried again (5 times).
 */
export async function startOnFreePort<T>(
  host: string,
  start: (port: number) => Proc,
  ready: (proc: Proc, port: number) => Promise<T>,
): Promise<{ proc: Proc; port: number; ready: T }> {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(host);
    const proc = start(port);
    try {
      return { proc, port, ready: await ready(proc, port) };
    } catch (err) {
      last = err;
      await proc.stop('SIGKILL');
    }
  }
  throw last;
}

/** Resolves once a TCP connection to host:port succeeds (then closes it); bounded by `ms`. */
export async function waitForPort(host: string, port: number, proc: Proc, ms = READY_MS): Promise<void> {
  const deadline = Date.now() + ms;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (exitedEarly) throw new Error(`${proc.name}: exited before listening on ${port}:\n${proc.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name}: not listening on ${port} within ${ms} ms:\n${proc.output()}`);
    await sleep(50);
  }
}

/** Runs a program to completion; resolves with its exit and output (never rejects on a status). */
export async function runProgram(
  file: string,
  args: readonly string[],
  options: SpawnProcOptions & { readonly input?: Buffer | string; readonly timeoutMs?: number } = {},
): Promise<{ exit: Exit; output: string; stdout: string; stderr: string }> {
  const proc = spawnProc(file, args, { ...options, stdin: options.input === undefined ? 'ignore' : 'pipe' });
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.input !== undefined) proc.child.stdin?.end(options.input);
  const timer = setTimeout(() => void proc.stop('SIGKILL'), options.timeoutMs ?? 120_000);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { exit, output: proc.output(), stdout, stderr };
}

/** host:port as a URL authority or a CLI address: IPv6 literals in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
