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
 *                        bulk-gcm-receiver-bound / bulk-chacha-receiver-bound: the most a
 *                        receiver reading a net.Socket and opening 64 KiB records through
 *                        node:crypto (GCM; ChaCha both through sodium-native and node:crypto)
 *                        can take on one core
 *   pingpong-N[-gcm|-chacha]  round trips/s of an N-byte echo, with p50/p99 of one round trip
 *                        (default and chacha); pingpong-N-floor sets the default suite beside
 *                        raw TCP carrying CBC floor records (bench/floor.ts), pingpong-N-floor-
 *                        native sets secsess-chacha beside raw TCP carrying ChaCha20-Poly1305
 *                        records sealed and opened in place by sodium-native (bench/floor-aead.ts)
 *   pipeline-16[-gcm|-chacha]  16-byte messages/s written back to back; pipeline-16-floor and
 *                        pipeline-16-floor-native: the same beside batched floor records
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import * as sdk from '@secsess/sdk';
import type { Stats } from './child.js';
import { FloorAeadRecords, loadSodium, nativeUnavailable } from './floor-aead.js';
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
import { log, medianOrNull, percentile, timeUs } from './util.js';
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

/**
 * The least CPU one 64 KiB AEAD record costs to open, in µs. Through node:crypto (GCM or
 * ChaCha20-Poly1305): a context, its aad and tag, one `update`, `final` (node's API needs a
 * context per record; it cannot give one a new nonce). ChaCha20-Poly1305 through
 * sodium-native: one call. Timed in-process, the median of 5 batches.
 */
function openFloorUs(
  quick: boolean,
  cipher: 'aes-256-gcm' | 'chacha20-poly1305',
  native = false,
): number | null {
  const n = quick ? 200 : 1000;
  if (native) {
    const sodium = loadSodium();
    if (!sodium) return null;
    // One record opened again and again: into a second buffer, so the record stays intact.
    const frame = new FloorAeadRecords().seal(Buffer.alloc(65536, 0x5a));
    const [key, nonce, aad] = [Buffer.alloc(32, 0x4b), Buffer.alloc(12), Buffer.alloc(12)];
    const ct = frame.subarray(4, frame.length - 16);
    const tag = frame.subarray(frame.length - 16);
    const out = Buffer.alloc(ct.length);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct, tag, ct, aad, null, nonce, key);
    return timeUs(
      () => sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, null, ct, tag, aad, nonce, key),
      n,
      5,
    );
  }
  const key = createSecretKey(Buffer.alloc(32, 1));
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(12);
  // Typed as GCM for node's overloads (a CCM-like signature otherwise).
  const name = cipher as 'aes-256-gcm';
  const c = createCipheriv(name, key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(Buffer.alloc(65536 + 13)), c.final()]);
  const tag = c.getAuthTag();
  return timeUs(
    () => {
      const d = createDecipheriv(name, key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    },
    n,
    5,
  );
}

export async function benchBulk(ctx: NetContext): Promise<Row[]> {
  const total = ctx.quick ? 64 * 2 ** 20 : 2 ** 30;
  const reps = ctx.quick ? 3 : 5;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
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
    // The most a receiver that reads a net.Socket and opens records can take on one core:
    // raw TCP's receiving CPU per 64 KiB plus the least open of a 64 KiB record.
    const tcpCpu = medianOrNull(cpu.get('tcp') ?? []);
    const bound = (open: number | null): number | null =>
      tcpCpu === null || open === null ? null : chunk.length / (tcpCpu + open);
    const native = openFloorUs(ctx.quick, 'chacha20-poly1305', true);
    if (native === null) log(`  bulk-chacha-receiver-bound: tcp+sodium-native n/a (${nativeUnavailable()})`);
    const gcmRow = rowFrom('bulk-gcm-receiver-bound', 'MB/s', mbs, 'secsess-gcm', ['tls']);
    const chachaRow = rowFrom('bulk-chacha-receiver-bound', 'MB/s', mbs, 'secsess-chacha', ['tls']);
    return [
      ...SUITES.map((s) => rowFrom(`bulk${suffix(s.name)}`, 'MB/s', mbs, s.name)),
      ...SUITES.map((s) => rowFrom(`bulk${suffix(s.name)}-server-cpu`, 'µs/64KiB', cpu, s.name)),
      {
        ...gcmRow,
        peers: { 'tcp+node:crypto': bound(openFloorUs(ctx.quick, 'aes-256-gcm')), ...gcmRow.peers },
      },
      {
        ...chachaRow,
        peers: {
          'tcp+sodium-native': bound(native),
          'tcp+node:crypto': bound(openFloorUs(ctx.quick, 'chacha20-poly1305')),
          ...chachaRow.peers,
        },
      },
    ];
  } finally {
    await closeAll(conns);
  }
}

const FLOORS = {
  pingpong: ['floor', 'floor-native'],
  pipeline: ['floor-batch', 'floor-native-batch'],
} as const;

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
