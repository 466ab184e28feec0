/**
 * Runs the built `secsess` bin (cli/bin/secsess.js → cli/dist/secsess.js) as child
 * processes, the way users and the real-program tests run it: readiness by its `listening`
 * log line, the real port read from it; log lines collected as they come.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { KeyPair } from '@secsess/keys';
import { assertBuilt } from './cli.js';

/** The `secsess` bin shim users run. */
export const TUNNEL_BIN = fileURLToPath(new URL('../../bin/secsess.js', import.meta.url));

/** Children still running: a test file that dies (an uncaught exception) leaves no daemon behind. */
const LIVE = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of LIVE) child.kill('SIGKILL');
});

/** One running `secsess` process. */
export class Tunnel {
  readonly child: ChildProcess;
  /** stderr lines so far. */
  readonly lines: string[] = [];
  readonly #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  /**
   * Starts `secsess ...args`; `launcher` runs before it, given the node binary and the bin
   * as its last arguments (a python3 parent that passes a socket on fd 3 and execs them).
   */
  constructor(
    args: readonly string[],
    options: { stdin?: 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv; launcher?: readonly string[] } = {},
  ) {
    const [command, ...prefix] = [...(options.launcher ?? []), process.execPath, TUNNEL_BIN];
    this.child = spawn(command!, [...prefix, ...args], {
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
    });
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
    LIVE.add(this.child);
    void this.exited.then(() => LIVE.delete(this.child));
    let partial = '';
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.#add(line);
    });
  }

  #add(line: string): void {
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  /** The first line (already seen or to come) that matches; rejects if the process exits first. */
  line(pattern: RegExp): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match: (l: string) => pattern.test(l), resolve };
      this.#waiters.push(waiter);
      void this.exited.then((code) =>
        reject(
          new Error(`secsess exited (${code}) before a line matched ${pattern}:\n${this.lines.join('\n')}`),
        ),
      );
    });
  }

  /** Lines matching `pattern`, waiting until there are `count` of them. */
  async linesMatching(pattern: RegExp, count: number): Promise<string[]> {
    for (;;) {
      const found = this.lines.filter((l) => pattern.test(l));
      if (found.length >= count) return found;
      await Promise.race([once(this.child.stderr!, 'data'), this.exited]);
      if (this.child.exitCode !== null && this.lines.filter((l) => pattern.test(l)).length < count) {
        throw new Error(`secsess exited before ${count} lines matched ${pattern}:\n${this.lines.join('\n')}`);
      }
    }
  }

  /** Waits for the `listening` line (text format) and returns the port it names. */
  async port(): Promise<number> {
    const line = await this.line(/^secsess: listening address=|"event":"listening"/);
    const match = /address=\S*:(\d+)|"address":"[^"]*:(\d+)"/.exec(line);
    return Number(match?.[1] ?? match?.[2]);
  }

  /** Sends `signal` and waits for the exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Key files of a test: a server key pair and a client key pair. */
export interface KeyFiles {
  serverKey: string;
  serverPub: string;
  clientKey: string;
  clientPub: string;
}

/** Key files for a test: a server key pair and a client key pair, in `dir`. */
export async function makeKeys(dir: string): Promise<KeyFiles> {
  await mkdir(dir, { recursive: true });
  const server = await KeyPair.generateRSA({ bits: 2048 });
  const client = await KeyPair.generateRSA({ bits: 2048 });
  const s = await server.save(join(dir, 'server'));
  const c = await client.save(join(dir, 'client'));
  return {
    serverKey: s.privateKeyPath,
    serverPub: s.publicKeyPath,
    clientKey: c.privateKeyPath,
    clientPub: c.publicKeyPath,
  };
}

/** A TCP echo server on 127.0.0.1 port 0 that keeps half-closes (echoes, then ends when the client ends). */
export async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects to 127.0.0.1:`port`, writes `data`, half-closes, and collects the whole answer. */
export async function exchange(port: number, data: Buffer): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(socket, 'connect');
  socket.end(data);
  return readAll(socket);
}

/** Everything `socket` sends until its end; rejects on an error (a reset). */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** What every tunnel test file sets up, filled in by its `before` hook. */
export interface TunnelFixture {
  /** A temporary folder (SECSESS_HOME is inside it), removed after. */
  dir: string;
  keys: KeyFiles;
  /** A second set of keys: another server, another client. */
  other: KeyFiles;
  /** A half-close-keeping echo service. */
  echo: { server: Server; port: number };
  /** Starts `secsess ...args`; every process started so is killed after the file's tests. */
  start(args: readonly string[], options?: ConstructorParameters<typeof Tunnel>[1]): Tunnel;
}

/** Registers the set-up and tear-down of a tunnel test file (`name` names its folder). */
export function tunnelFixture(name: string): TunnelFixture {
  const tunnels: Tunnel[] = [];
  const fixture = {
    start(args: readonly string[], options?: ConstructorParameters<typeof Tunnel>[1]): Tunnel {
      const tunnel = new Tunnel(args, options);
      tunnels.push(tunnel);
      return tunnel;
    },
  } as TunnelFixture;
  test.serial.before(async () => {
    assertBuilt();
    fixture.dir = await mkdtemp(join(tmpdir(), `secsess-tunnel-${name}-`));
    // Children inherit this: no test can reach the real ~/.secsess.
    process.env['SECSESS_HOME'] = join(fixture.dir, 'home');
    [fixture.keys, fixture.other] = await Promise.all([
      makeKeys(join(fixture.dir, 'keys')),
      makeKeys(join(fixture.dir, 'other')),
    ]);
    fixture.echo = await echoServer();
  });
  test.after.always(async () => {
    await Promise.all(tunnels.map((t) => t.stop('SIGKILL')));
    fixture.echo?.server.close();
    if (fixture.dir !== undefined) await rm(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}

/** `serve --listen 127.0.0.1:0 --key KEY --forward 127.0.0.1:PORT ...extra`. */
export function serveArgs(key: string, forwardPort: number, extra: readonly string[] = []): string[] {
  return [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--key',
    key,
    '--forward',
    `127.0.0.1:${forwardPort}`,
    ...extra,
  ];
}

/** `connect --listen LISTEN --to 127.0.0.1:PORT --server-pub PUB ...extra` (LISTEN: 127.0.0.1:0). */
export function connectArgs(
  servePort: number,
  serverPub: string,
  extra: readonly string[] = [],
  listen = '127.0.0.1:0',
): string[] {
  return [
    'connect',
    '--listen',
    listen,
    '--to',
    `127.0.0.1:${servePort}`,
    '--server-pub',
    serverPub,
    ...extra,
  ];
}
