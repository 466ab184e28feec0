/**
 * Runs the built `secsess` bin (cli/bin/secsess.js → cli/dist/secsess.js) as users do: long
 * running `serve` / `connect --listen` processes started with `--log-format json` and ready
 * once their `listening` line is out (its address is where they really listen: tests and the
 * bench use port 0), and one-shot stdio runs.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { chmod, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PublicKey } from '@secsess/keys';
import { killAtExit, spawnProc } from './programs.js';
import type { Proc, SpawnProcOptions } from './programs.js';

/** The bin shim users run. */
export const SECSESS_BIN = fileURLToPath(new URL('../../bin/secsess.js', import.meta.url));

/** The esbuild bundle the shim imports (`npm run build` makes it). */
export const SECSESS_BUNDLE = fileURLToPath(new URL('../../dist/secsess.js', import.meta.url));

/** One line of `--log-format json` (the brief's fields: time, event, side, peer, …). */
export interface LogEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Every JSON log line in `text` (other lines, such as a usage error, are left out). */
export function logEvents(text: string): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value !== null && typeof value === 'object' && typeof (value as LogEvent).event === 'string')
        events.push(value as LogEvent);
    } catch {
      // a line cut by the output cap, or not ours
    }
  }
  return events;
}

/** A running `secsess serve` or `secsess connect --listen`. */
export interface SecsessProc extends Proc {
  /** Where it listens, from its `listening` line. */
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[::1]:port` for IPv6). */
  readonly address: string;
  /** Its JSON log lines so far. */
  events(): LogEvent[];
  /** The first log line (in order, from the start) for which `match` holds, waiting for it. */
  waitForEvent(match: (e: LogEvent) => boolean, what: string, ms?: number): Promise<LogEvent>;
}

/** Splits `host:port` / `[v6]:port`. */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The environment of every bin run: no NODE_OPTIONS from the test runner (tsx). */
export function binEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: '', ...extra };
}

/**
 * Spawns `node cli/bin/secsess.js ...args --log-format json` and waits for its `listening`
 * line. If it exits or stays silent, the error carries its output and it is stopped.
 */
export async function startSecsess(
  args: readonly string[],
  options: SpawnProcOptions = {},
): Promise<SecsessProc> {
  const proc = spawnProc(process.execPath, [SECSESS_BIN, ...args, '--log-format', 'json'], {
    env: binEnv(),
    ...options,
  });
  const waitForEvent = (match: (e: LogEvent) => boolean, what: string, ms?: number): Promise<LogEvent> =>
    proc.waitUntil((text) => logEvents(text).find(match), what, ms);
  try {
    const listening = await waitForEvent((e) => e.event === 'listening', 'the listening line');
    const { host, port } = listeningAddress(listening);
    return {
      ...proc,
      host,
      port,
      address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
      events: () => logEvents(proc.output()),
      waitForEvent,
    };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}

/** The address of a `listening` line: `"host:port"`, or an object with `address`/`port`. */
function listeningAddress(e: LogEvent): { host: string; port: number } {
  const a = e['address'];
  if (typeof a === 'string') return splitAddress(a);
  if (a !== null && typeof a === 'object') {
    const o = a as { address?: unknown; port?: unknown };
    if (typeof o.address === 'string' && typeof o.port === 'number') return { host: o.address, port: o.port };
  }
  throw new Error(`listening line without an address: ${JSON.stringify(e)}`);
}

/** `secsess serve` → `target`, on `listen` (default 127.0.0.1:0). */
export function startServe(
  keys: TunnelKeys,
  target: string,
  extra: readonly string[] = [],
  listen = '127.0.0.1:0',
): Promise<SecsessProc> {
  return startSecsess(['serve', '--listen', listen, '--key', keys.serverKey, '--forward', target, ...extra]);
}

/** `secsess connect --listen` → `serve` (pinned to the server key unless `trust` says otherwise). */
export function startConnect(
  keys: TunnelKeys,
  to: string,
  trust: readonly string[] = ['--server-pub', keys.serverPub],
  listen = '127.0.0.1:0',
): Promise<SecsessProc> {
  return startSecsess(['connect', '--listen', listen, '--to', to, ...trust]);
}

/** Key files for a tunnel, in a test's temp dir (copied from sdk/test/fixtures, mode 0600). */
export interface TunnelKeys {
  readonly dir: string;
  readonly serverKey: string;
  readonly serverPub: string;
  /** Another key pair: a wrong pin (`otherPub`), an unauthorized client or a new server key (`otherKey`). */
  readonly otherPub: string;
  readonly otherKey: string;
  readonly clientKey: string;
  readonly clientPub: string;
  /** An authorized_keys file holding the client's key (OpenSSH line). */
  readonly authorizedKeys: string;
  /** A known_hosts path (empty until a test writes it: see `trustServer`). */
  readonly knownHosts: string;
}

const FIXTURES = fileURLToPath(new URL('../../../sdk/test/fixtures/', import.meta.url));

/** The fixture keys (RSA-2048, no generation time) as a tunnel's key files in `dir`. */
export async function tunnelKeys(dir: string): Promise<TunnelKeys> {
  const copy = async (name: string): Promise<string> => {
    const to = join(dir, name);
    await copyFile(join(FIXTURES, name), to);
    await chmod(to, 0o600);
    return to;
  };
  const serverKey = await copy('server-2048.key');
  const serverPub = await copy('server-2048.pub');
  const otherPub = await copy('other-2048.pub');
  const otherKey = await copy('other-2048.key');
  const clientKey = await copy('client-2048.key');
  const clientPub = await copy('client-2048.pub');
  const authorizedKeys = join(dir, 'authorized_keys');
  const line = (await PublicKey.load(clientPub)).encode({ format: 'openssh', comment: 'tunnel-test' });
  await writeFile(authorizedKeys, line, { mode: 0o600 });
  return {
    dir,
    serverKey,
    serverPub,
    otherPub,
    otherKey,
    clientKey,
    clientPub,
    authorizedKeys,
    knownHosts: join(dir, 'known_hosts'),
  };
}

/** Writes a known_hosts file trusting `pub` for `address` (`[host]:port`, as secsess writes it). */
export async function trustServer(path: string, address: string, pub: string): Promise<void> {
  const { host, port } = splitAddress(address);
  const line = (await PublicKey.load(pub)).encode({ format: 'openssh' }).toString().trim();
  await writeFile(path, `[${host}]:${port} ${line}\n`, { mode: 0o600 });
}

/** What a one-shot run of the bin did: its status, stdout's SHA-256 and first MiB, stderr. */
export interface BinRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdoutSha256: string;
  readonly stdoutBytes: number;
  /** The first MiB of stdout. */
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs `node cli/bin/secsess.js ...args` to its end, stdin from `stdinFile` (or `input`, or
 * nothing), stdout hashed as it streams; killed after `timeoutMs` (default 120 s), or when
 * this process exits.
 */
export function runSecsess(
  args: readonly string[],
  options: {
    readonly stdinFile?: string;
    readonly input?: Buffer | string;
    readonly timeoutMs?: number;
  } = {},
): Promise<BinRun> {
  const stdinFd = options.stdinFile === undefined ? null : openSync(options.stdinFile, 'r');
  const stdin = stdinFd ?? (options.input === undefined ? 'ignore' : 'pipe');
  const child = spawn(process.execPath, [SECSESS_BIN, ...args], {
    env: binEnv(),
    stdio: [stdin, 'pipe', 'pipe'],
  });
  if (stdinFd !== null) closeSync(stdinFd);
  killAtExit(child);
  child.stdin?.on('error', () => {});
  if (options.input !== undefined) child.stdin?.end(options.input);
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let bytes = 0;
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    if (bytes < 1 << 20) head.push(chunk);
    bytes += chunk.length;
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(head).subarray(0, 1 << 20);
      resolve({ code, signal, stdoutSha256: hash.digest('hex'), stdoutBytes: bytes, stdout, stderr });
    });
  });
}
