/**
 * The data scenarios, once per secsess suite: `secsess` (the default AES-256-CBC +
 * HMAC-SHA256), `secsess-gcm` (AES-256-GCM) and `secsess-chacha` (ChaCha20-Poly1305 on the
 * sdk's backend for it: sodium-native when it loads, else node:crypto; the run's header names
 * it), all against the same secsess server (the client proposes the suite), interleaved with
 * raw TCP, node:tls and secret-stream. Rows of the default suite keep their names; the other
 * suites' rows add `-gcm` / `-chacha`.
 *
 *   bulk[-gcm|-chacha]   MB/s, 64 KiB writes client → server (1 GiB per repetition; 64 MiB
 *                        quick); -server-cpu rows: the receiving server's CPU per 64 KiB;
 *                        the floor is the `tcp` peer (no crypto, no framing, the same
 *                        net.Socket reader)
 *   pingpong-N[-gcm|-chacha]  round trips/s of an N-byte echo, with p50/p99 of one round trip
 *                        (default and chacha); pingpong-N-floor sets the default suite beside
 *                        raw TCP carrying CBC floor records (bench/floor.ts), pingpong-N-floor-
 *                        native sets secsess-chacha beside raw TCP carrying ChaCha20-Poly1305
 *                        records sealed and opened with the fastest primitive for their size
 *                        (bench/floor-aead.ts: in place by sodium-native below 16 KiB, OpenSSL
 *                        from there on, as the sdk)
 *   pipeline-16[-gcm|-chacha]  16-byte messages/s written back to back; pipeline-16-floor and
 *                        pipeline-16-floor-native: the same beside batched floor records
 */
import * as sdk from '@secsess/sdk';
import type { Stats } from './child.js';
import {
  bulkOnce,
  closeAll,
  interleave,
  openAll,
  pingPongOnce,
  pipelineOnce,
  rowFrom,
  STANDARD,
} from './network.js';
import type { NetContext, Variant } from './network.js';
import { percentile } from './util.js';
import type { Row } from './util.js';

/** secsess once per suite. */
export const SUITES: readonly Variant[] = [
  { name: 'secsess', kind: 'secsess' },
  { name: 'secsess-gcm', kind: 'secsess', options: { symmetric: 'AES-256-GCM' } },
  { name: 'secsess-chacha', kind: 'secsess', options: { symmetric: 'ChaCha20-Poly1305' } },
];

const PEERS: readonly Variant[] = STANDARD.filter((v) => v.kind !== 'secsess');

/** '' for the default suite, '-gcm', '-chacha'. */
const suffix = (name: string): string => name.slice('secsess'.length);

/**
 * The sdk's AEAD backend per cipher, as `cryptoBackends()` reports it (an sdk without that
 * function has node:crypto only).
 */
export function sdkBackends(): Record<string, string> {
  const report = (sdk as unknown as { cryptoBackends?: () => Record<string, string> }).cryptoBackends;
  return report ? report() : { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'node:crypto' };
}

const FLOORS = {
  pingpong: ['floor', 'floor-native'],
  pipeline: ['floor-batch', 'floor-native-batch'],
} as const;

export async function benchBulk(ctx: NetContext): Promise<Row[]> {
  const total = ctx.quick ? 64 * 2 ** 20 : 2 ** 30;
  const reps = ctx.quick ? 3 : 5;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  // The floor is raw TCP itself (the `tcp` peer): no crypto, no framing, the same reader.
  const variants = [...SUITES, ...PEERS];
  const kindOf = new Map(variants.map((v) => [v.name, v.kind]));
  const conns = await openAll(ctx, variants, 'sink');
  try {
    await interleave(conns, 1, (c) => bulkOnce(c, 16 * 2 ** 20, chunk)); // warm-up
    const samples = await interleave(conns, reps, async (c, name) => {
      const child = await ctx.child(kindOf.get(name)!);
      const before = await child.request<Stats>({ cmd: 'stats' });
      const mbs = await bulkOnce(c, total, chunk);
      const after = await child.request<Stats>({ cmd: 'stats' });
      return { mbs, cpu: ((after.cpu - before.cpu) * chunk.length) / total };
    });
    const pick = (f: (s: { mbs: number; cpu: number }) => number): Map<string, number[]> =>
      new Map([...samples].map(([name, runs]) => [name, runs.map(f)]));
    const mbs = pick((s) => s.mbs);
    const cpu = pick((s) => s.cpu);
    return [
      ...SUITES.map((s) => rowFrom(`bulk${suffix(s.name)}`, 'MB/s', mbs, s.name)),
      ...SUITES.map((s) => rowFrom(`bulk${suffix(s.name)}-server-cpu`, 'µs/64KiB', cpu, s.name)),
    ];
  } finally {
    await closeAll(conns);
  }
}

export async function benchPingPong(ctx: NetContext, size: number): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 5;
  const ms = ctx.quick ? 250 : 1000;
  // The floors: raw TCP carrying records that cost only the primitives' calls (bench/floor.ts
  // for the default suite, bench/floor-aead.ts with sodium-native for ChaCha20-Poly1305).
  const floors: Variant[] = FLOORS.pingpong.map((kind) => ({ name: kind, kind }));
  const conns = await openAll(ctx, [...SUITES, ...PEERS, ...floors], 'echo');
  try {
    await interleave(conns, 1, (c) => pingPongOnce(c, size, ctx.quick ? 300 : 1000));
    const samples = await interleave(conns, reps, (c) => pingPongOnce(c, size, ms));
    const per = (f: (s: number[]) => number): Map<string, number[]> =>
      new Map([...samples].map(([name, runs]) => [name, runs.map(f)]));
    const rate = per((s) => (s.length * 1e6) / s.reduce((a, b) => a + b, 0));
    const p50 = per((s) => percentile(s, 50));
    const p99 = per((s) => percentile(s, 99));
    const name = `pingpong-${size}`;
    return [
      ...SUITES.map((s) => rowFrom(`${name}${suffix(s.name)}`, 'rt/s', rate, s.name)),
      ...['secsess', 'secsess-chacha'].flatMap((s) => [
        rowFrom(`${name}${suffix(s)}-p50`, 'µs', p50, s),
        rowFrom(`${name}${suffix(s)}-p99`, 'µs', p99, s),
      ]),
      rowFrom(`${name}-floor`, 'rt/s', rate, 'secsess', ['floor', 'tls']),
      rowFrom(`${name}-floor-native`, 'rt/s', rate, 'secsess-chacha', ['floor-native', 'tls']),
    ];
  } finally {
    await closeAll(conns);
  }
}

export async function benchPipeline(ctx: NetContext): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 5;
  const ms = ctx.quick ? 250 : 1000;
  // The floors: messages batched into floor records (bench/floor.ts, bench/floor-aead.ts),
  // each delivered as a Buffer through an EventEmitter.
  const floors: Variant[] = FLOORS.pipeline.map((kind) => ({ name: kind, kind }));
  const conns = await openAll(ctx, [...SUITES, ...PEERS, ...floors], 'sink');
  try {
    await interleave(conns, 1, (c) => pipelineOnce(c, ctx.quick ? 150 : 500));
    const rates = await interleave(conns, reps, (c) => pipelineOnce(c, ms));
    return [
      ...SUITES.map((s) => rowFrom(`pipeline-16${suffix(s.name)}`, 'msg/s', rates, s.name)),
      rowFrom('pipeline-16-floor', 'msg/s', rates, 'secsess', ['floor-batch', 'tls']),
      rowFrom('pipeline-16-floor-native', 'msg/s', rates, 'secsess-chacha', ['floor-native-batch', 'tls']),
    ];
  } finally {
    await closeAll(conns);
  }
}
