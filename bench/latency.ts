/**
 * Echo latency of one established session, idle and while a burst of handshakes hits the
 * same server — the case the decryption worker pool exists for. The server runs in its
 * own process, the handshake load in another, the measuring client in this one. Peers,
 * measured in the same run: a raw TCP echo and a node:tls echo (RSA-2048 certificate,
 * made with the openssl CLI; n/a without it), loaded with as many TLS handshakes.
 *
 *   node --import=tsx --conditions=source bench/latency.ts [--quick]
 *
 * The same file is the child processes: `latency.ts serve <kind> …` and `latency.ts load <kind> …`.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KeyPair } from '@secsess/keys';
import { Client, Server } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import { percentile, printTable } from './util.js';
import type { Row } from './util.js';

const SELF = fileURLToPath(import.meta.url);
const MESSAGE_SIZE = 16;
const HANDSHAKES = 200;
const CONCURRENCY = 20;
/**
 * Round trips before measuring, so both processes run optimized code: with only 100, the
 * JIT is still at work and secsess's p50 reads ~50% high.
 */
const WARMUP_ROUNDS = 2000;
/** Upper bound on round trips measured while the load runs (the loop ends when the load does). */
const MAX_LOADED_ROUNDS = 1_000_000;

type Kind = 'secsess' | 'secsess-inline' | 'tls' | 'tcp';

interface Files {
  readonly dir: string;
  readonly key: string;
  readonly pub: string;
  /** PEM key and self-signed certificate for the TLS peer, or null without openssl. */
  readonly tls: { key: string; cert: string } | null;
}

/** One round-trip function per connection kind: send 16 bytes, wait for them back. */
type RoundTrip = () => Promise<void>;

export async function benchLatencyUnderHandshakes(options: { quick: boolean }): Promise<Row[]> {
  const rounds = options.quick ? 300 : 3000;
  const warmup = options.quick ? 500 : WARMUP_ROUNDS;
  const handshakes = options.quick ? 100 : HANDSHAKES;
  const files = await makeFiles();
  try {
    const pool = await measure('secsess', files, warmup, rounds, handshakes);
    const inline = await measure('secsess-inline', files, warmup, rounds, handshakes);
    const tcp = await measure('tcp', files, warmup, rounds, 0);
    const tls = files.tls ? await measure('tls', files, warmup, rounds, handshakes) : null;
    const under = `during ${handshakes} handshakes, ${CONCURRENCY} at a time`;
    return [
      row('echo RTT p50, idle, workers: 2', pool.idle.p50, {
        'secsess workers: 0': inline.idle.p50,
        'raw TCP': tcp.idle.p50,
        'node:tls': tls?.idle.p50 ?? null,
      }),
      row('echo RTT p99, idle, workers: 2', pool.idle.p99, {
        'secsess workers: 0': inline.idle.p99,
        'raw TCP': tcp.idle.p99,
        'node:tls': tls?.idle.p99 ?? null,
      }),
      row(`echo RTT p50 ${under}, workers: 2`, pool.loaded!.p50, {
        'secsess workers: 0': inline.loaded!.p50,
        'node:tls': tls?.loaded?.p50 ?? null,
      }),
      row(`echo RTT p99 ${under}, workers: 2`, pool.loaded!.p99, {
        'secsess workers: 0': inline.loaded!.p99,
        'node:tls': tls?.loaded?.p99 ?? null,
      }),
      {
        scenario: `handshakes/s ${under}`,
        unit: 'hs/s',
        secsess: pool.rate,
        peers: { 'secsess workers: 0': inline.rate, 'node:tls': tls?.rate ?? null },
      },
    ];
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
  }
}

function row(scenario: string, secsess: number, peers: Record<string, number | null>): Row {
  return { scenario, unit: 'µs', secsess, peers };
}

interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

interface Measurement {
  readonly idle: Percentiles;
  readonly loaded: Percentiles | null;
  /** Handshakes per second the load achieved. */
  readonly rate: number | null;
}

async function measure(
  kind: Kind,
  files: Files,
  warmup: number,
  rounds: number,
  handshakes: number,
): Promise<Measurement> {
  const server = startChild(['serve', kind, JSON.stringify(files)]);
  try {
    const { port } = (await server.firstLine) as { port: number };
    const probe = await openProbe(kind, port, files);
    try {
      for (let i = 0; i < warmup; i++) await probe.roundTrip();
      const idle = await timeRounds(probe.roundTrip, rounds);
      if (handshakes === 0) return { idle: summarize(idle), loaded: null, rate: null };
      const load = startChild(['load', kind, String(port), String(handshakes), JSON.stringify(files)]);
      await load.firstLine; // the load process is up and about to start
      let done = false;
      const result = load.lastLine.finally(() => {
        done = true;
      });
      const loaded: number[] = [];
      for (let i = 0; i < MAX_LOADED_ROUNDS && !done; i++) loaded.push(await timeOne(probe.roundTrip));
      const { ms } = (await result) as { ms: number };
      return { idle: summarize(idle), loaded: summarize(loaded), rate: (handshakes * 1000) / ms };
    } finally {
      await probe.close();
    }
  } finally {
    await server.stop();
  }
}

function summarize(us: number[]): Percentiles {
  return { p50: percentile(us, 50), p99: percentile(us, 99) };
}

async function timeOne(fn: RoundTrip): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1000;
}

async function timeRounds(fn: RoundTrip, rounds: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) out.push(await timeOne(fn));
  return out;
}

// ---- probes (in this process) ----

async function openProbe(
  kind: Kind,
  port: number,
  files: Files,
): Promise<{ roundTrip: RoundTrip; close(): Promise<void> }> {
  const payload = Buffer.alloc(MESSAGE_SIZE, 0x61);
  if (kind === 'secsess' || kind === 'secsess-inline') {
    const client = Client.create(files.pub);
    const session: Session = await client.connect({ host: '127.0.0.1', port });
    return {
      roundTrip: async () => {
        await session.write(payload);
        const back = await session.read();
        if (back?.length !== MESSAGE_SIZE) throw new Error('bad echo');
      },
      close: () => session.close(),
    };
  }
  const socket: Socket =
    kind === 'tls'
      ? tlsConnect({ host: '127.0.0.1', port, ca: files.tls!.cert, servername: 'localhost' })
      : netConnect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, kind === 'tls' ? 'secureConnect' : 'connect');
  socket.setNoDelay(true);
  let pending = 0;
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    pending -= chunk.length;
    if (pending <= 0 && wake) wake();
  });
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        pending = MESSAGE_SIZE;
        wake = resolve;
        socket.write(payload);
      }),
    close: async () => {
      socket.end();
      await once(socket, 'close');
    },
  };
}

// ---- child processes ----

interface Child {
  readonly firstLine: Promise<unknown>;
  readonly lastLine: Promise<unknown>;
  stop(): Promise<void>;
}

function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

function startChild(args: string[]): Child {
  const child: ChildProcess = spawn(process.execPath, [...loaderArgs(), SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  let last: unknown = null;
  const firstLine = new Promise<unknown>((resolve, reject) => {
    lines.on('line', (line) => {
      last = JSON.parse(line);
      resolve(last);
    });
    void exited.then(([code]) =>
      reject(new Error(`bench child ${args.slice(0, 2).join(' ')} exited with ${code}`)),
    );
  });
  const lastLine = exited.then(([code]) => {
    if (code !== 0) throw new Error(`bench child ${args.slice(0, 2).join(' ')} exited with ${code}`);
    return last;
  });
  firstLine.catch(() => {});
  lastLine.catch(() => {});
  return {
    firstLine,
    lastLine,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function serve(kind: Kind, files: Files): Promise<void> {
  if (kind === 'secsess' || kind === 'secsess-inline') {
    const server = Server.create(
      '127.0.0.1:0',
      files.key,
      undefined,
      kind === 'secsess-inline' ? { workers: 0 } : {},
    );
    server.on('session', (session) => {
      session.on('message', (m) => void session.write(m).catch(() => {}));
      session.on('error', () => {});
    });
    await server.start();
    console.log(JSON.stringify({ port: server.address!.port }));
    await once(process, 'SIGTERM');
    await server.stop();
    return;
  }
  const echo = (socket: Socket): void => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  };
  const server =
    kind === 'tls'
      ? createTlsServer({ key: files.tls!.key, cert: files.tls!.cert }, echo)
      : createNetServer({ noDelay: true }, echo);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  await once(process, 'SIGTERM');
  server.close();
  process.exit(0);
}

/** Runs `count` handshakes, CONCURRENCY at a time, each followed by a close; prints the elapsed ms. */
async function load(kind: Kind, port: number, count: number, files: Files): Promise<void> {
  console.log(JSON.stringify({ starting: count }));
  const one = async (): Promise<void> => {
    if (kind === 'tls') {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: files.tls!.cert, servername: 'localhost' });
      await once(socket, 'secureConnect');
      socket.end();
      await once(socket, 'close');
      return;
    }
    const client = Client.create(files.pub);
    await client.connect({ host: '127.0.0.1', port });
    await client.close();
  };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
  console.log(JSON.stringify({ ms: performance.now() - t0 }));
}

async function makeFiles(): Promise<Files> {
  const dir = mkdtempSync(join(tmpdir(), 'secsess-bench-'));
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const key = join(dir, 'server.key');
  const pub = join(dir, 'server.pub');
  await pair.privateKey.save(key);
  await pair.publicKey.save(pub);
  return { dir, key, pub, tls: makeTlsFiles(dir) };
}

/** A self-signed RSA-2048 certificate for the node:tls peer, or null without the openssl CLI. */
function makeTlsFiles(dir: string): Files['tls'] {
  const tlsKey = join(dir, 'tls.key');
  const tlsCert = join(dir, 'tls.crt');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        tlsKey,
        '-out',
        tlsCert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(tlsKey, 'utf8'), cert: readFileSync(tlsCert, 'utf8') };
  } catch {
    return null;
  }
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [mode, kind, ...rest] = process.argv.slice(2);
  if (mode === 'serve') {
    await serve(kind as Kind, JSON.parse(rest[0]!) as Files);
  } else if (mode === 'load') {
    await load(kind as Kind, Number(rest[0]), Number(rest[1]), JSON.parse(rest[2]!) as Files);
  } else {
    const quick = process.argv.includes('--quick');
    console.error(
      `latency bench (${quick ? 'quick' : 'full'}): server and handshake load in child processes`,
    );
    printTable(await benchLatencyUnderHandshakes({ quick }));
  }
}
