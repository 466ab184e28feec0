/**
 * The in-process rows of the ChaCha20-Poly1305 suite (part of the `records` group):
 *
 *   record-chacha-N-seal/-open/-seal+open  one record of N bytes (16, 2048, 65536) through the
 *       record layer on the native backend (sodium-native), beside:
 *         node:crypto backend  the same record layer on the node:crypto backend, measured in a
 *                              child process started with SECSESS_CRYPTO=node (the backend is
 *                              chosen once per process), its batches interleaved with ours
 *                              over IPC (a batch of each column here, then one there, 7 rounds);
 *         floor-native         the least work of such a record with sodium-native (in place;
 *                              bench/floor-aead.ts), interleaved with secsess here;
 *         floor-node:crypto    the least with node:crypto (a context per record), interleaved
 *                              with the node:crypto backend in the child.
 *       The secsess column is null (the reason on stderr) when this process's ChaCha20-Poly1305
 *       keys are not native (SECSESS_CRYPTO=node, sodium-native missing, or an sdk without the
 *       native backend); a column whose backend is missing likewise.
 *   message-chacha-16-send, message-chacha-16-send+receive  one 16-byte message through the
 *       sans-IO connection with ChaCha20-Poly1305 (on this process's backend, named on
 *       stderr), beside CommSec's figures and the default suite measured interleaved.
 *
 *   node --import=tsx --conditions=source bench/records-chacha.ts [--quick]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createAeadKey } from '../sdk/src/protocol/aead.js';
import { RecordSealer } from '../sdk/src/protocol/record-layer.js';
import { RecordOpener } from '../sdk/src/protocol/record-opener.js';
import { resolveSuite, Symmetric } from '../sdk/src/protocol/suite.js';
import { secureRandom } from '../sdk/src/protocol/crypto.js';
import { loaderArgs } from './child.js';
import { FloorAeadRecords, nativeUnavailable } from './floor-aead.js';
import type { FloorPrimitive } from './floor-aead.js';
import { COMMSEC, connectedPair } from './records.js';
import { log, median, printTable, timeUsEach } from './util.js';
import type { Row } from './util.js';

const SIZES = [16, 2048, 65536];
const SELF = fileURLToPath(import.meta.url);

/** µs per call, by size: the record layer's seal and open, and a floor's. */
interface Timings {
  readonly seal: number[];
  readonly open: number[];
  readonly floorSeal: number[];
  readonly floorOpen: number[];
}

/** The backend this process's ChaCha20-Poly1305 keys are made on (what the record layer uses). */
function chachaBackend(): string {
  const key = createAeadKey('chacha20-poly1305', Buffer.alloc(32));
  key.destroy();
  return key.backend;
}

/** Calls per timed batch, as records.ts: about 2 MB (quick) or 8 MB per 4 batches, at least 50. */
function callsFor(quick: boolean, size: number): number {
  return Math.max(50, Math.floor((quick ? 2e6 : 8e6) / (size + 200) / 4));
}

const repsFor = (quick: boolean): number => (quick ? 3 : 7);

/**
 * One size's four functions — record layer seal and open on this process's backend, the
 * floor's seal and open on `floor` — warmed up, then timed a batch each per `round()`.
 */
class Columns {
  readonly #fns: (() => void)[];
  readonly #n: number;

  constructor(quick: boolean, size: number, floor: FloorPrimitive) {
    const suite = resolveSuite({ symmetric: Symmetric.CHACHA20POLY1305 });
    const n = (this.#n = callsFor(quick, size));
    const payload = Buffer.alloc(size, 0x5a);
    const secret = Buffer.alloc(32, 0x53);
    const warm = Math.min(n + 200, 2000);
    // Openers read fresh records in order (the sequence must match, and records are opened
    // in place): enough for the warm-up and every round.
    const stream = (seal: () => Buffer): (() => Buffer) => {
      const frames = Array.from({ length: warm + n * repsFor(quick) }, seal);
      let i = 0;
      return () => frames[i++]!;
    };
    const sealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const feed = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const opener = new RecordOpener(suite, Buffer.from(secret));
    const next = stream(() => feed.seal(0x01, payload));
    const floorSealer = new FloorAeadRecords(floor);
    const floorFeed = new FloorAeadRecords(floor);
    const floorOpener = new FloorAeadRecords(floor);
    const nextFloor = stream(() => floorFeed.seal(payload));
    this.#fns = [
      () => sealer.seal(0x01, payload),
      () => opener.open(next()),
      () => floorSealer.seal(payload),
      () => floorOpener.open(nextFloor()),
    ];
    for (const fn of this.#fns) for (let i = 0; i < warm; i++) fn();
  }

  /** µs of CPU per call of each function, one batch each. */
  round(): number[] {
    return this.#fns.map((fn) => {
      const t0 = process.cpuUsage();
      for (let i = 0; i < this.#n; i++) fn();
      const t = process.cpuUsage(t0);
      return (t.user + t.system) / this.#n;
    });
  }
}

/** Messages between this process and its node:crypto child. */
type ChildRequest =
  | { readonly cmd: 'backend' }
  | { readonly cmd: 'prepare'; readonly size: number }
  | { readonly cmd: 'round' };

/**
 * A child process on the node:crypto backend (SECSESS_CRYPTO=node: the backend is chosen
 * once per process), driven over IPC so that its batches interleave with this process's.
 */
async function nodeChild(quick: boolean): Promise<{
  request: <T>(r: ChildRequest) => Promise<T>;
  backend: string;
  stop: () => void;
}> {
  const child = fork(SELF, ['--node-backend', ...(quick ? ['--quick'] : [])], {
    execArgv: loaderArgs(),
    env: { ...process.env, SECSESS_CRYPTO: 'node' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
  });
  failed.catch(() => {});
  const request = <T>(r: ChildRequest): Promise<T> => {
    child.send(r);
    return Promise.race([once(child, 'message').then(([m]) => m as T), failed]);
  };
  const stop = (): void => void child.kill();
  try {
    const backend = await request<string>({ cmd: 'backend' });
    return { request, backend, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

/** This process's timings (null if sodium-native is missing) and the node:crypto child's (or why not). */
async function measure(quick: boolean): Promise<{ here: Timings | null; child: Timings | string }> {
  const here = nativeUnavailable() ? null : ({ seal: [], open: [], floorSeal: [], floorOpen: [] } as Timings);
  let child: Timings | string = { seal: [], open: [], floorSeal: [], floorOpen: [] };
  let node: Awaited<ReturnType<typeof nodeChild>> | null = null;
  try {
    node = await nodeChild(quick);
    if (node.backend !== 'node:crypto') child = `SECSESS_CRYPTO=node gave the ${node.backend} backend`;
  } catch (err) {
    child = `the node:crypto child failed: ${(err as Error).message.split('\n')[0]}`;
  }
  try {
    for (const size of SIZES) {
      const columns = here ? new Columns(quick, size, 'sodium-native') : null;
      if (node && typeof child !== 'string') await node.request({ cmd: 'prepare', size });
      const rounds: { here: number[][]; child: number[][] } = { here: [], child: [] };
      for (let r = 0; r < repsFor(quick); r++) {
        if (columns) rounds.here.push(columns.round());
        if (node && typeof child !== 'string')
          rounds.child.push(await node.request<number[]>({ cmd: 'round' }));
      }
      const keep = (t: Timings | string | null, samples: number[][]): void => {
        if (t === null || typeof t === 'string') return;
        const m = [0, 1, 2, 3].map((k) => median(samples.map((s) => s[k]!)));
        t.seal.push(m[0]!);
        t.open.push(m[1]!);
        t.floorSeal.push(m[2]!);
        t.floorOpen.push(m[3]!);
      };
      keep(here, rounds.here);
      keep(child, rounds.child);
    }
  } finally {
    node?.stop();
  }
  return { here, child };
}

/** The child's side: says its backend, prepares a size's columns, times rounds, on request. */
function serveNodeBackend(quick: boolean): void {
  let columns: Columns | null = null;
  process.on('message', (r: ChildRequest) => {
    if (r.cmd === 'backend') {
      process.send!(chachaBackend());
    } else if (r.cmd === 'prepare') {
      columns = new Columns(quick, r.size, 'node:crypto');
      process.send!(true);
    } else {
      process.send!(columns!.round());
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** One 16-byte message, ChaCha20-Poly1305 beside the default suite, interleaved. */
function messageRows(quick: boolean, backend: string): Row[] {
  const reps = quick ? 3 : 7;
  const n = callsFor(quick, 16);
  const message = Buffer.alloc(16, 0x6d);
  const chacha = { symmetric: Symmetric.CHACHA20POLY1305 };
  // Two pairs per suite: records the first client sends are dropped, so its server would be out of step.
  const sendOnly = [connectedPair(undefined, chacha), connectedPair()];
  const both = [connectedPair(undefined, chacha), connectedPair()];
  const [send, defaultSend, sendReceive, defaultSendReceive] = timeUsEach(
    [
      ...sendOnly.map(({ client, toServer }) => () => {
        client.write(message);
        toServer.splice(0);
      }),
      ...both.map(({ client, server, toServer }) => () => {
        client.write(message);
        for (const r of toServer.splice(0)) server.receive(r);
      }),
    ],
    n,
    reps,
  ) as [number, number, number, number];
  log(`  message-chacha-16-*: ChaCha20-Poly1305 on ${backend}`);
  return [
    {
      scenario: 'message-chacha-16-send',
      unit: 'µs',
      secsess: send,
      peers: { CommSec: COMMSEC.send[16]!, 'default suite': defaultSend },
    },
    {
      scenario: 'message-chacha-16-send+receive',
      unit: 'µs',
      secsess: sendReceive,
      peers: { CommSec: COMMSEC.sendReceive[16]!, 'default suite': defaultSendReceive },
    },
  ];
}

export async function chachaRows(options: { quick: boolean }): Promise<Row[]> {
  const quick = options.quick;
  const backend = chachaBackend();
  const notNative =
    backend === 'sodium-native' ? null : `ChaCha20-Poly1305 keys are on ${backend} in this process`;
  const floorMissing = nativeUnavailable();
  if (notNative) log(`  record-chacha-*: secsess (sodium-native) n/a (${notNative})`);
  if (floorMissing) log(`  record-chacha-*: floor-native n/a (${floorMissing})`);
  const { here, child } = await measure(quick);
  if (typeof child === 'string') log(`  record-chacha-*: node:crypto backend n/a (${child})`);
  const theirs = typeof child === 'string' ? null : child;
  const sum = (a: number | null, b: number | null): number | null =>
    a !== null && b !== null ? a + b : null;
  const rows: Row[] = [];
  SIZES.forEach((size, i) => {
    const pick = (t: Timings | null, k: keyof Timings, native = false): number | null =>
      t === null || (native && notNative) ? null : t[k][i]!;
    const column = (k: 'seal' | 'open'): Row['peers'] & { secsess: number | null } => ({
      secsess: pick(here, k, true),
      'node:crypto backend': pick(theirs, k),
      'floor-native': pick(here, k === 'seal' ? 'floorSeal' : 'floorOpen'),
      'floor-node:crypto': pick(theirs, k === 'seal' ? 'floorSeal' : 'floorOpen'),
    });
    const seal = column('seal');
    const open = column('open');
    for (const [what, v] of [
      ['seal', seal],
      ['open', open],
    ] as const) {
      const { secsess, ...peers } = v;
      rows.push({ scenario: `record-chacha-${size}-${what}`, unit: 'µs', secsess, peers });
    }
    const { secsess: s1, ...p1 } = seal;
    const { secsess: s2, ...p2 } = open;
    rows.push({
      scenario: `record-chacha-${size}-seal+open`,
      unit: 'µs',
      secsess: sum(s1, s2),
      peers: Object.fromEntries(Object.keys(p1).map((k) => [k, sum(p1[k]!, p2[k]!)])),
    });
  });
  return [...rows, ...messageRows(quick, backend)];
}

if (process.argv[1] === SELF) {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--node-backend')) {
    serveNodeBackend(quick);
  } else {
    printTable(await chachaRows({ quick }));
  }
}
