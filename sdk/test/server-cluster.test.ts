/**
 * `Server` under node:cluster: workers that each create a Server on 127.0.0.1:0 share one
 * port (the primary holds the socket), report it as their address, serve sessions, stop and
 * start again independently; and the default RSA pool of a cluster worker is one thread.
 * The process tree is fixtures/cluster-echo-server.ts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client } from '../src/index.js';
import { resolveServerOptions } from '../src/server/server-options.js';
import { fixtureKeys } from './helpers/keys.js';
import { loaderArgs } from './helpers/server-process.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/cluster-echo-server.ts', import.meta.url));
const KEY = fileURLToPath(new URL('./fixtures/server-2048.key', import.meta.url));
/** Rounds of concurrent sessions tried before giving up on seeing a worker serve. */
const MAX_ROUNDS = 20;
const SESSIONS_PER_ROUND = 4;

interface Address {
  readonly host: string;
  readonly port: number;
}

type Event =
  | { readonly primary: { pid: number; defaultWorkers: number } }
  | { readonly listening: { pid: number; address: Address; defaultWorkers: number } }
  | { readonly stopped: { pid: number } };

/** The fixture's process tree and its JSON lines. */
class Tree {
  readonly child: ChildProcess;
  readonly #events: Event[] = [];
  #read = 0;
  #wake: (() => void) | null = null;
  #ended = false;

  constructor(t: ExecutionContext, workers: number) {
    this.child = spawn(process.execPath, [...loaderArgs(), FIXTURE, KEY, String(workers)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const pids = new Set<number>();
    t.teardown(() => {
      // Only what this test started: the primary, and the workers it reported.
      for (const pid of [this.child.pid!, ...pids]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    });
    let partial = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line) as Event;
        if ('listening' in event) pids.add(event.listening.pid);
        this.#events.push(event);
      }
      this.#wake?.();
    });
    this.child.stdout!.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** The next event (after those already taken) that `pick` returns a value for. */
  async next<T>(pick: (event: Event) => T | undefined): Promise<T> {
    for (;;) {
      while (this.#read < this.#events.length) {
        const value = pick(this.#events[this.#read++]!);
        if (value !== undefined) return value;
      }
      if (this.#ended) throw new Error('the cluster fixture ended');
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
}

const listening = (e: Event): { pid: number; address: Address; defaultWorkers: number } | undefined =>
  'listening' in e ? e.listening : undefined;

/** Rounds of concurrent sessions; returns the pid that answered each. Every echo is checked. */
async function sessions(
  t: ExecutionContext,
  port: number,
  until: (pids: number[]) => boolean,
): Promise<number[]> {
  const { publicKey } = fixtureKeys();
  const pids: number[] = [];
  for (let round = 0; round < MAX_ROUNDS && !until(pids); round++) {
    const answered = await Promise.all(
      Array.from({ length: SESSIONS_PER_ROUND }, async (_, i) => {
        const session = await Client.create(publicKey).connect({ host: '127.0.0.1', port });
        try {
          await session.write('pid');
          const pid = Number(String(await session.read()));
          const message = `message ${round}.${i}`;
          await session.write(message);
          t.is(String(await session.read()), message);
          return pid;
        } finally {
          await session.close();
        }
      }),
    );
    pids.push(...answered);
  }
  return pids;
}

test('Servers in two cluster workers share one port, each reports it, both serve; the default RSA pool there is 1 thread', async (t) => {
  const tree = new Tree(t, 2);
  const primary = await tree.next((e) => ('primary' in e ? e.primary : undefined));
  const a = await tree.next(listening);
  const b = await tree.next(listening);
  t.not(a.pid, b.pid);
  t.true(a.address.port > 0);
  t.deepEqual(a.address, b.address, 'one port for both');
  t.is(a.defaultWorkers, 1);
  t.is(b.defaultWorkers, 1);
  const outside = Math.min(2, availableParallelism());
  t.is(primary.defaultWorkers, outside, 'the primary is no cluster worker');
  t.is(resolveServerOptions(undefined).workers, outside, 'neither is this process');
  t.is(resolveServerOptions({ workers: 3 }).workers, 3);

  const pids = await sessions(t, a.address.port, (p) => p.includes(a.pid) && p.includes(b.pid));
  t.deepEqual([...new Set(pids)].sort(), [a.pid, b.pid].sort(), 'served by both workers');

  const exited = once(tree.child, 'exit');
  tree.child.stdin!.end();
  t.deepEqual(await exited, [0, null]);
});

test('stop() in one cluster worker leaves the port to the other; start() joins it again on the same port', async (t) => {
  const tree = new Tree(t, 2);
  const a = await tree.next(listening);
  const b = await tree.next(listening);
  const port = a.address.port;

  tree.send(`stop ${a.pid}`);
  t.is(await tree.next((e) => ('stopped' in e ? e.stopped.pid : undefined)), a.pid);
  // A fixed number of sessions: every one must be served by the worker still listening.
  const alone = await sessions(t, port, (p) => p.length >= 2 * SESSIONS_PER_ROUND);
  t.deepEqual([...new Set(alone)], [b.pid]);

  tree.send(`start ${a.pid}`);
  const again = await tree.next(listening);
  t.is(again.pid, a.pid);
  t.deepEqual(again.address, a.address, 'the same shared port');
  const both = await sessions(t, port, (p) => p.includes(a.pid));
  t.true(both.includes(a.pid));

  const exited = once(tree.child, 'exit');
  tree.child.stdin!.end();
  t.deepEqual(await exited, [0, null]);
});
