/**
 * `secsess serve --workers N` as real processes of the built bin: a node:cluster primary and
 * N workers on one --listen port, each forwarding to a TCP echo service in this process. The
 * workers' log lines name them (`worker`), so the test tells which one served a session.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server as NetServer } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client } from '@secsess/sdk';
import { binEnv, logEvents, runSecsess, SECSESS_BIN, startServe, tunnelKeys } from './helpers/secsess-bin.js';
import { spawnProc } from './helpers/programs.js';
import type { LogEvent, SecsessProc, TunnelKeys } from './helpers/secsess-bin.js';
import { tempDir } from './helpers/services.js';

/** Rounds of concurrent sessions tried before giving up on seeing a worker serve. */
const MAX_ROUNDS = 20;
const SESSIONS_PER_ROUND = 4;

async function echoService(t: ExecutionContext): Promise<number> {
  const server: NetServer = createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

async function setup(
  t: ExecutionContext,
): Promise<{ keys: TunnelKeys; serve: SecsessProc; workers: number[] }> {
  const { dir, remove } = await tempDir('workers');
  t.teardown(remove);
  const keys = await tunnelKeys(dir);
  const serve = await startServe(keys, `127.0.0.1:${await echoService(t)}`, ['--workers', '2']);
  const workers: number[] = [];
  t.teardown(async () => {
    await serve.stop('SIGKILL');
    for (const pid of workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const listening = await serve.waitUntil((text) => {
    const lines = logEvents(text).filter((e) => e.event === 'listening');
    return lines.length >= 2 ? lines : undefined;
  }, 'two listening lines');
  workers.push(...listening.map((e) => e['worker'] as number));
  return { keys, serve, workers };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of `pid`'s children (Linux /proc); empty if none or unknown. */
async function childrenOf(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const conns = (events: LogEvent[]): LogEvent[] => events.filter((e) => e.event === 'conn');

/** Rounds of concurrent echoed sessions until `until` holds of the workers that served (per `conn` lines). */
async function serveSessions(
  t: ExecutionContext,
  serve: SecsessProc,
  keys: TunnelKeys,
  until: (served: Set<number>) => boolean,
): Promise<Set<number>> {
  const served = new Set<number>();
  const before = conns(serve.events()).length;
  for (let round = 1; round <= MAX_ROUNDS && !until(served); round++) {
    await Promise.all(
      Array.from({ length: SESSIONS_PER_ROUND }, async () => {
        const session = await Client.create(keys.serverPub).connect({ host: serve.host, port: serve.port });
        const data = randomBytes(1024);
        await session.write(data);
        let echoed = Buffer.alloc(0);
        while (echoed.length < data.length) {
          const message = await session.read();
          if (message === null) break;
          echoed = Buffer.concat([echoed, message]);
        }
        t.true(echoed.equals(data));
        await session.close();
      }),
    );
    const lines = await serve.waitUntil((text) => {
      const all = conns(logEvents(text)).slice(before);
      return all.length >= round * SESSIONS_PER_ROUND ? all : undefined;
    }, `the conn lines of round ${round}`);
    for (const line of lines) served.add(line['worker'] as number);
  }
  return served;
}

test('serve --workers 2: two processes share --listen, both serve sessions, SIGTERM stops all with exit 0', async (t) => {
  const { keys, serve, workers } = await setup(t);
  t.is(new Set(workers).size, 2);
  t.false(workers.includes(serve.child.pid!), 'the primary serves nothing itself');
  const served = await serveSessions(t, serve, keys, (s) => workers.every((w) => s.has(w)));
  t.deepEqual([...served].sort(), [...workers].sort());
  const exit = await serve.stop('SIGTERM');
  t.deepEqual(exit, { code: 0, signal: null }, serve.output());
  const stopped = serve.events().filter((e) => e.event === 'stopped');
  t.deepEqual(stopped.map((e) => e['worker']).sort(), [...workers].sort(), 'each worker drained and stopped');
  for (const pid of workers) t.false(alive(pid));
});

test('serve --workers: a worker killed while serving is logged and replaced; the new one serves', async (t) => {
  const { keys, serve, workers } = await setup(t);
  const [victim, survivor] = workers as [number, number];
  process.kill(victim, 'SIGKILL');
  const died = await serve.waitForEvent((e) => e.event === 'worker', 'the worker line');
  t.like(died, { pid: victim, status: 'SIGKILL', replaced: true });
  const again = await serve.waitUntil(
    (text) =>
      logEvents(text).find((e) => e.event === 'listening' && !workers.includes(e['worker'] as number)),
    'the replacement listening',
  );
  const replacement = again['worker'] as number;
  workers.push(replacement); // killed at teardown if the test fails
  t.is(again['address'], `${serve.host}:${serve.port}`, 'the same port');
  const served = await serveSessions(t, serve, keys, (s) => s.has(replacement) && s.has(survivor));
  t.deepEqual([...served].sort(), [survivor, replacement].sort());
  t.deepEqual(await serve.stop('SIGINT'), { code: 0, signal: null }, serve.output());
  for (const pid of [survivor, replacement]) t.false(alive(pid));
});

test('serve --workers: usage errors for 0, a fraction, --stdio; a worker that cannot start fails the command', async (t) => {
  const { dir, remove } = await tempDir('workers-usage');
  t.teardown(remove);
  const keys = await tunnelKeys(dir);
  const base = ['serve', '--listen', '127.0.0.1:0', '--key', keys.serverKey];
  for (const [extra, message] of [
    [['--forward', '127.0.0.1:1', '--workers', '0'], /--workers must be a whole number from 1 to 256/],
    [['--forward', '127.0.0.1:1', '--workers', '1.5'], /--workers must be a whole number from 1 to 256/],
    [['--stdio', '--workers', '2'], /--workers goes with --forward, not --stdio/],
  ] as const) {
    const run = await runSecsess([...base, ...extra]);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, message);
  }
  const missing = await runSecsess([
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--key',
    `${dir}/no-such.key`,
    '--forward',
    '127.0.0.1:1',
    '--workers',
    '2',
  ]);
  t.is(missing.code, 1, missing.stderr);
  t.regex(missing.stderr, /exited before it listened.*\[ERR_WORKERS\]/);
});

test('serve --workers: a SIGTERM while the workers are still starting stops them all (exit 0)', async (t) => {
  const { dir, remove } = await tempDir('workers-early');
  t.teardown(remove);
  const keys = await tunnelKeys(dir);
  const target = `127.0.0.1:${await echoService(t)}`;
  const args = ['serve', '--listen', '127.0.0.1:0', '--key', keys.serverKey, '--forward', target];
  const proc = spawnProc(process.execPath, [SECSESS_BIN, ...args, '--workers', '2', '--log-format', 'json'], {
    env: binEnv(),
  });
  const pid = proc.child.pid!;
  let workers: number[] = [];
  t.teardown(async () => {
    await proc.stop('SIGKILL');
    for (const w of workers) if (alive(w)) process.kill(w, 'SIGKILL');
  });
  // As soon as the primary has forked (its signal handlers come in the same tick as the forks),
  // before a worker can have listened.
  for (let i = 0; i < 5000 && workers.length < 2; i++) {
    workers = await childrenOf(pid);
    if (workers.length < 2) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  if (workers.length < 2)
    t.log('could not see the workers in /proc; the SIGTERM comes after the forks anyway');
  const exit = await proc.stop('SIGTERM'); // SIGKILL after STOP_MS: a worker that dropped the early stop
  t.deepEqual(exit, { code: 0, signal: null }, proc.output());
  for (const w of workers) t.false(alive(w), `worker ${w} is gone`);
});

test('serve --workers: a replacement that fails before it listens leaves the others serving', async (t) => {
  const { keys, serve, workers } = await setup(t);
  const [victim, survivor] = workers as [number, number];
  await rename(keys.serverKey, `${keys.serverKey}.away`); // the replacement cannot load it
  process.kill(victim, 'SIGKILL');
  const lines = await serve.waitUntil((text) => {
    const found = logEvents(text).filter((e) => e.event === 'worker');
    return found.length >= 2 ? found : undefined;
  }, 'the victim and the replacement worker lines');
  t.like(lines[0], { pid: victim, status: 'SIGKILL', replaced: true });
  t.like(lines[1], { status: 1, replaced: false });
  t.true(alive(serve.child.pid!), 'the primary still runs');
  const served = await serveSessions(t, serve, keys, (s) => s.has(survivor));
  t.deepEqual([...served], [survivor]);
  t.deepEqual(await serve.stop('SIGTERM'), { code: 0, signal: null }, serve.output());
  t.false(alive(survivor));
});

test('serve --workers: a SIGHUP right after a worker was killed does not crash the primary (its send may fail)', async (t) => {
  const { keys, serve, workers } = await setup(t);
  let live = [...workers];
  // The write to a worker just killed can fail (EPIPE) while it still looks connected; whether
  // it does is a race, so a few rounds: the primary must survive each and replace the worker.
  for (let round = 1; round <= 3; round++) {
    const victim = live[0]!;
    process.kill(victim, 'SIGKILL');
    process.kill(serve.child.pid!, 'SIGHUP');
    const replacement = await serve.waitUntil(
      (text) =>
        logEvents(text).find((e) => e.event === 'listening' && !workers.includes(e['worker'] as number))?.[
          'worker'
        ] as number | undefined,
      `the replacement of round ${round}`,
    );
    workers.push(replacement); // killed at teardown if the test fails
    live = [...live.slice(1), replacement];
    t.true(alive(serve.child.pid!), `round ${round}: the primary runs`);
  }
  const served = await serveSessions(t, serve, keys, (s) => live.every((w) => s.has(w)));
  t.deepEqual([...served].sort(), [...live].sort());
  t.deepEqual(await serve.stop('SIGTERM'), { code: 0, signal: null }, serve.output());
});
