/**
 * The cluster echo server (samples/cluster/) as a process tree, built (`npm run build` first,
 * as `npm test` does): a node:cluster primary with 2 workers on one port, real clients over
 * loopback, the workers' pids learned from the `pid` message, resumption across the workers
 * (one ticket key for all), SIGTERM, a killed worker.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyPair } from '@secsess/keys';
import { Client, TicketStore } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';

const SERVER = fileURLToPath(new URL('../dist/cluster/server.js', import.meta.url));
/** Rounds of concurrent clients tried before a test gives up seeing a worker serve. */
const MAX_ROUNDS = 20;
const CLIENTS_PER_ROUND = 4;

interface Cluster {
  readonly child: ChildProcess;
  readonly port: number;
  readonly fingerprint: string;
  readonly workers: readonly number[];
  /** stderr, line by line, from the start. */
  readonly stderr: Lines;
  /** Everything written on stderr so far. */
  readonly errors: () => string;
}

/** A stream's lines, kept, so that one can wait for a line matching a pattern more than once. */
class Lines {
  readonly #lines: string[] = [];
  #partial = '';
  /** Lines already looked at by `match()`. */
  #read = 0;
  #wake: (() => void) | null = null;
  #ended = false;

  constructor(stream: Readable) {
    stream.on('data', (d: Buffer) => {
      const parts = (this.#partial + d.toString()).split('\n');
      this.#partial = parts.pop()!;
      this.#lines.push(...parts);
      this.#wake?.();
    });
    stream.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** The next line (after those matched or passed over before) matching `pattern`; null at the end. */
  async match(pattern: RegExp): Promise<RegExpExecArray | null> {
    for (;;) {
      while (this.#read < this.#lines.length) {
        const found = pattern.exec(this.#lines[this.#read++]!);
        if (found) return found;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

async function keyFiles(t: ExecutionContext): Promise<{ key: string; pub: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-cluster-sample-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const key = join(dir, 'server.key');
  const pub = join(dir, 'server.pub');
  await pair.privateKey.save(key);
  await pair.publicKey.save(pub);
  return { key, pub };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the sample with `args` and reads its three header lines. */
async function startCluster(t: ExecutionContext, key: string, args: string[] = []): Promise<Cluster> {
  const child = spawn(process.execPath, [SERVER, '--key', key, '--workers', '2', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const stderr = new Lines(child.stderr!);
  const workers: number[] = [];
  t.teardown(() => {
    // Only what this test started: the primary and the workers it reported.
    for (const pid of [child.pid!, ...workers]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const header: string[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    header.push(line);
    if (header.length === 3) break;
  }
  child.stdout!.resume();
  const listening = /^listening on 127\.0\.0\.1:(\d+)$/.exec(header[0] ?? '');
  const fingerprint = /^fingerprint (SHA256:[A-Za-z0-9+/]{43})$/.exec(header[1] ?? '');
  const pids = /^workers (\d+) (\d+)$/.exec(header[2] ?? '');
  if (!listening || !fingerprint || !pids) {
    throw new Error(`unexpected output ${JSON.stringify(header)}; stderr: ${errors}`);
  }
  workers.push(Number(pids[1]), Number(pids[2]));
  return {
    child,
    port: Number(listening[1]),
    fingerprint: fingerprint[1]!,
    workers,
    stderr,
    errors: () => errors,
  };
}

/** The serving worker's pid, then an echo of random bytes checked. */
async function pidAndEcho(t: ExecutionContext, session: Session): Promise<number> {
  await session.write('pid');
  const pid = Number(String(await session.read()));
  const message = randomBytes(4 + (pid % 4096)); // never the 3 bytes `pid`
  await session.write(message);
  t.deepEqual(await session.read(), message);
  return pid;
}

/** Rounds of concurrent sessions until every pid in `want` has served one (or MAX_ROUNDS). */
async function servedBy(
  t: ExecutionContext,
  pub: string,
  port: number,
  want: readonly number[],
): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let round = 0; round < MAX_ROUNDS && !want.every((p) => seen.has(p)); round++) {
    const pids = await Promise.all(
      Array.from({ length: CLIENTS_PER_ROUND }, async () => {
        const session = await Client.create(pub).connect({ host: '127.0.0.1', port });
        try {
          return await pidAndEcho(t, session);
        } finally {
          await session.close();
        }
      }),
    );
    for (const pid of pids) seen.add(pid);
  }
  return seen;
}

test.before(() => {
  if (!existsSync(SERVER)) throw new Error('samples/dist is missing: run `npm run build` before these tests');
});

test('two workers on one port both serve concurrent clients, echo, and all stop on SIGTERM with exit 0', async (t) => {
  const { key, pub } = await keyFiles(t);
  const cluster = await startCluster(t, key);
  t.is(new Set(cluster.workers).size, 2);
  const seen = await servedBy(t, pub, cluster.port, cluster.workers);
  t.deepEqual(
    [...seen].sort(),
    [...cluster.workers].sort(),
    'sessions were served by both workers, and only by them',
  );
  const exited = once(cluster.child, 'exit');
  cluster.child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null], cluster.errors());
  for (const pid of cluster.workers) t.false(alive(pid), `worker ${pid} still running`);
  t.regex(cluster.errors(), /^primary: SIGTERM, stopping 2 worker\(s\)/m);
  t.regex(cluster.errors(), /^primary: stopped$/m);
});

test('one TicketStore resumes across the workers: a ticket issued by one worker resumes on the other, both ways', async (t) => {
  const { key, pub } = await keyFiles(t);
  const cluster = await startCluster(t, key);
  const store = new TicketStore();
  /** Each session in turn: the worker that served it, whether it resumed, tickets held before it. */
  const sessions: { pid: number; resumed: boolean; held: number }[] = [];
  const crossed = (from: number, to: number): boolean =>
    sessions.some((s, i) => i > 0 && s.resumed && sessions[i - 1]!.pid === from && s.pid === to);
  const [a, b] = cluster.workers as [number, number];
  // One session at a time, each offering the ticket the one before left in the store, until a
  // ticket of each worker has resumed on the other (the primary deals connections in turn).
  while (sessions.length < MAX_ROUNDS * 2 && !(crossed(a, b) && crossed(b, a))) {
    const held = store.size;
    const session = await Client.create(pub, {}, { resumption: store }).connect({
      host: '127.0.0.1',
      port: cluster.port,
    });
    try {
      sessions.push({ pid: await pidAndEcho(t, session), resumed: session.resumed, held });
    } finally {
      await session.close();
    }
  }
  t.deepEqual(
    sessions.map((s) => [s.resumed, s.held]),
    sessions.map((_, i) => [i > 0, i > 0 ? 1 : 0]),
    `the first session is a full handshake; each later one offers the ticket of the one before and resumes: ${JSON.stringify(sessions)}`,
  );
  t.true(
    sessions.every((s) => cluster.workers.includes(s.pid)),
    'only the reported workers serve',
  );
  t.true(crossed(a, b), `a ticket issued by worker ${a} resumed on worker ${b}: ${JSON.stringify(sessions)}`);
  t.true(crossed(b, a), `a ticket issued by worker ${b} resumed on worker ${a}: ${JSON.stringify(sessions)}`);
  t.notRegex(cluster.errors(), /handshake .* failed/, 'no handshake failed');
  const exited = once(cluster.child, 'exit');
  cluster.child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null], cluster.errors());
});

test('SIGTERM drains: an open session goes on until its client closes it, new connections are refused', async (t) => {
  const { key, pub } = await keyFiles(t);
  const cluster = await startCluster(t, key, ['--drain', '60000']);
  const session = await Client.create(pub).connect({ host: '127.0.0.1', port: cluster.port });
  const pid = await pidAndEcho(t, session);
  t.true(cluster.workers.includes(pid));
  const exited = once(cluster.child, 'exit');
  cluster.child.kill('SIGTERM');
  t.truthy(await cluster.stderr.match(/^primary: SIGTERM, stopping/));
  // The workers close their listeners first; the primary closes the port with the last one.
  // Until then a connection may still reach a worker (served, or dropped if it is stopping).
  type Refusal = { code?: string; cause?: { code?: string } };
  let refused: Refusal | null = null;
  for (let i = 0; i < 100 && refused?.cause?.code !== 'ECONNREFUSED'; i++) {
    try {
      const other = await Client.create(pub).connect({ host: '127.0.0.1', port: cluster.port });
      await other.close();
    } catch (err) {
      refused = err as Refusal;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.is(refused?.code, 'ERR_TRANSPORT');
  t.is(refused?.cause?.code, 'ECONNREFUSED');
  t.is(await pidAndEcho(t, session), pid, 'the open session is still served by its worker');
  t.is(cluster.child.exitCode, null, 'the primary waits for the draining session');
  await session.close();
  t.is(session.closeCode, 1000);
  t.deepEqual(await exited, [0, null], cluster.errors());
  for (const w of cluster.workers) t.false(alive(w));
});

test('a worker killed while serving is reported and replaced; the replacement serves on the same port', async (t) => {
  const { key, pub } = await keyFiles(t);
  const cluster = await startCluster(t, key);
  const [victim, survivor] = cluster.workers as [number, number];
  process.kill(victim, 'SIGKILL');
  const reported = await cluster.stderr.match(
    /^primary: worker (\d+) exited unexpectedly \(signal SIGKILL\)$/,
  );
  t.is(Number(reported?.[1]), victim);
  const replaced = await cluster.stderr.match(/^primary: worker (\d+) listening \(replacement\)$/);
  const replacement = Number(replaced?.[1]);
  (cluster.workers as number[]).push(replacement); // killed at teardown if the test fails
  t.true(replacement > 0 && replacement !== victim);
  const seen = await servedBy(t, pub, cluster.port, [survivor, replacement]);
  t.deepEqual([...seen].sort(), [survivor, replacement].sort());
  const exited = once(cluster.child, 'exit');
  cluster.child.kill('SIGINT');
  t.deepEqual(await exited, [0, null], cluster.errors());
  for (const pid of [survivor, replacement]) t.false(alive(pid));
});

test('bad arguments exit 2, an unreadable key exits 1 before any worker starts, --help exits 0', async (t) => {
  const run = async (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const child = spawn(process.execPath, [SERVER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  };
  const zero = await run(['--key', 'x.key', '--workers', '0']);
  t.is(zero.code, 2);
  t.regex(zero.stderr, /--workers must be from 1 to 256/);
  t.is((await run(['--workers', 'two'])).code, 2);
  const missing = await run(['--key', join(tmpdir(), 'secsess-no-such-key.key')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^server failed: ERR_/m);
  t.notRegex(missing.stderr, /primary:/);
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: cluster-server /);
  t.regex(help.stdout, /--workers N/);
});
