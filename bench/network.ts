/**
 * Network scenarios over loopback TCP: the server of each kind in a child process, the
 * measuring client here. Every scenario opens one connection per kind, warms each up, then
 * runs its repetitions interleaved (secsess, tcp, tls, secret-stream, secsess, …) so drift
 * hits every kind alike; figures are medians over repetitions.
 *
 *   bulk            MB/s, 64 KiB writes client → server (1 GiB per repetition; 64 MiB quick)
 *   bulk-gcm        the same with secsess's opt-in AES-256-GCM suite; -server-cpu rows: the
 *                   receiving server's CPU per 64 KiB; bulk-gcm-receiver-bound: the most a
 *                   receiver reading a net.Socket and opening records via node:crypto can take
 *   pingpong-N      round trips/s of an N-byte echo, with p50/p99 of one round trip;
 *                   pingpong-N-floor sets it beside raw TCP carrying floor records (bench/floor.ts)
 *   pipeline-16     16-byte messages/s written back to back; pipeline-16-floor sets it beside
 *                   raw TCP carrying batched floor records (bench/floor.ts)
 *   handshake-C-rsaB handshakes/s (connect, handshake, graceful close), C clients at a time,
 *                   with the server's CPU time per handshake
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ACK_BYTES, connect } from './kinds.js';
import type { BenchFiles, Bits, Conn, ConnectOptions, Kind, Mode } from './kinds.js';
import type { ChildHandle, Stats } from './child.js';
import { log, medianOrNull, nowUs, percentile, timeUs } from './util.js';
import type { Row } from './util.js';

export const KINDS: readonly Kind[] = ['secsess', 'tcp', 'tls', 'secret-stream'];

/** What the scenarios share: the run's files, one server child per kind, the mode. */
export interface NetContext {
  readonly quick: boolean;
  readonly files: BenchFiles;
  /** The server child of a kind (started on first use). */
  child(kind: Kind): Promise<ChildHandle>;
  /** A listening port of a kind's server child (started on first use, then reused). */
  port(kind: Kind, mode: Mode, bits?: Bits): Promise<number>;
  /** Why a kind cannot run, or null if it can. */
  unavailable(kind: Kind): string | null;
}

/** A labelled client variant: which kind, with which options, reported under which name. */
export interface Variant {
  readonly name: string;
  readonly kind: Kind;
  readonly options?: Omit<ConnectOptions, 'kind' | 'port'>;
}

const STANDARD: readonly Variant[] = KINDS.map((kind) => ({ name: kind, kind }));

/** Opens one connection per variant (a variant that fails is reported and left out). */
export async function openAll(
  ctx: NetContext,
  variants: readonly Variant[],
  mode: Mode,
): Promise<Map<string, Conn>> {
  const conns = new Map<string, Conn>();
  for (const v of variants) {
    const why = ctx.unavailable(v.kind);
    if (why) {
      log(`  ${v.name}: n/a (${why})`);
      continue;
    }
    try {
      const port = await ctx.port(v.kind, mode, v.options?.bits);
      conns.set(v.name, await connect(ctx.files, { kind: v.kind, port, ...v.options }));
    } catch (err) {
      log(`  ${v.name}: n/a (${(err as Error).message})`);
    }
  }
  return conns;
}

export async function closeAll(conns: Map<string, Conn>): Promise<void> {
  await Promise.all([...conns.values()].map((c) => c.close().catch(() => {})));
}

/** Runs `measure` for every connection, `reps` times, interleaved; returns every sample by name. */
async function interleave<T>(
  conns: Map<string, Conn>,
  reps: number,
  measure: (conn: Conn, name: string) => Promise<T>,
): Promise<Map<string, T[]>> {
  const out = new Map<string, T[]>();
  for (let r = 0; r < reps; r++) {
    for (const [name, conn] of conns) {
      try {
        const v = await measure(conn, name);
        out.set(name, [...(out.get(name) ?? []), v]);
      } catch (err) {
        log(`  ${name}: failed (${(err as Error).message})`);
      }
    }
  }
  return out;
}

export function rowFrom(
  scenario: string,
  unit: string,
  values: Map<string, number[]>,
  ours = 'secsess',
  peers: readonly string[] = ['tcp', 'tls', 'secret-stream'],
): Row {
  return {
    scenario,
    unit,
    secsess: medianOrNull(values.get(ours) ?? []),
    peers: Object.fromEntries(peers.map((p) => [p, medianOrNull(values.get(p) ?? [])])),
  };
}

// ---- bulk ----

/** Sends `total` bytes in `chunk`-sized writes; resolves with MB/s once the sink acknowledged all. */
export async function bulkOnce(conn: Conn, total: number, chunk: Buffer): Promise<number> {
  let acked = 0;
  const target = total / ACK_BYTES;
  let done!: () => void;
  const allAcked = new Promise<void>((resolve) => (done = resolve));
  conn.onData = (n) => {
    acked += n;
    if (acked >= target) done();
  };
  const t0 = nowUs();
  for (let sent = 0; sent < total; sent += chunk.length) {
    const wait = conn.write(chunk);
    if (wait) await wait;
  }
  await allAcked;
  return total / (nowUs() - t0); // bytes/µs = MB/s
}

/**
 * The least CPU one 64 KiB GCM record costs to open through node:crypto, in µs: a context,
 * its aad and tag, one `update`, `final` (what node's API needs per record; it cannot give a
 * GCM context a new nonce). Timed in-process, the median of 5 batches.
 */
function gcmOpenFloorUs(quick: boolean): number {
  const key = createSecretKey(Buffer.alloc(32, 1));
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(Buffer.alloc(65536 + 13)), c.final()]);
  const tag = c.getAuthTag();
  return timeUs(
    () => {
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    },
    quick ? 200 : 1000,
    5,
  );
}

export async function benchBulk(ctx: NetContext): Promise<Row[]> {
  const total = ctx.quick ? 64 * 2 ** 20 : 2 ** 30;
  const reps = ctx.quick ? 3 : 5;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const variants: Variant[] = [
    ...STANDARD,
    { name: 'secsess-gcm', kind: 'secsess', options: { symmetric: 'AES-256-GCM' } },
  ];
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
    // The most a receiver that reads a net.Socket and opens records through node:crypto can
    // take on one core: raw TCP's receiving CPU per 64 KiB plus the least GCM open of 64 KiB.
    const tcpCpu = medianOrNull(cpu.get('tcp') ?? []);
    const bound = tcpCpu === null ? null : chunk.length / (tcpCpu + gcmOpenFloorUs(ctx.quick));
    const boundRow = rowFrom('bulk-gcm-receiver-bound', 'MB/s', mbs, 'secsess-gcm', ['tls']);
    return [
      rowFrom('bulk', 'MB/s', mbs),
      rowFrom('bulk-gcm', 'MB/s', mbs, 'secsess-gcm'),
      rowFrom('bulk-server-cpu', 'µs/64KiB', cpu),
      rowFrom('bulk-gcm-server-cpu', 'µs/64KiB', cpu, 'secsess-gcm'),
      { ...boundRow, peers: { 'tcp+node:crypto': bound, ...boundRow.peers } },
    ];
  } finally {
    await closeAll(conns);
  }
}

// ---- ping-pong ----

/** Echo round trips of `size` bytes for `ms` milliseconds; resolves with every round trip in µs. */
export function pingPongOnce(conn: Conn, size: number, ms: number): Promise<number[]> {
  const message = Buffer.alloc(size, 0x70);
  return new Promise((resolve) => {
    const samples: number[] = [];
    let got = 0;
    let t = nowUs();
    const end = t + ms * 1000;
    conn.onData = (n) => {
      got += n;
      if (got < size) return;
      got = 0;
      const now = nowUs();
      samples.push(now - t);
      if (now >= end) {
        resolve(samples);
        return;
      }
      t = now;
      void conn.write(message);
    };
    void conn.write(message);
  });
}

export async function benchPingPong(ctx: NetContext, size: number): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 5;
  const ms = ctx.quick ? 250 : 1000;
  // The floor (bench/floor.ts): raw TCP carrying records that cost only the primitives' calls.
  const conns = await openAll(ctx, [...STANDARD, { name: 'floor', kind: 'floor' }], 'echo');
  try {
    await interleave(conns, 1, (c) => pingPongOnce(c, size, ctx.quick ? 300 : 1000));
    const samples = await interleave(conns, reps, (c) => pingPongOnce(c, size, ms));
    const per = (f: (s: number[]) => number): Map<string, number[]> =>
      new Map([...samples].map(([name, runs]) => [name, runs.map(f)]));
    return [
      rowFrom(
        `pingpong-${size}`,
        'rt/s',
        per((s) => (s.length * 1e6) / s.reduce((a, b) => a + b, 0)),
      ),
      rowFrom(
        `pingpong-${size}-p50`,
        'µs',
        per((s) => percentile(s, 50)),
      ),
      rowFrom(
        `pingpong-${size}-p99`,
        'µs',
        per((s) => percentile(s, 99)),
      ),
      rowFrom(
        `pingpong-${size}-floor`,
        'rt/s',
        per((s) => (s.length * 1e6) / s.reduce((a, b) => a + b, 0)),
        'secsess',
        ['floor', 'tls'],
      ),
    ];
  } finally {
    await closeAll(conns);
  }
}

// ---- pipeline ----

/** Writes 16-byte messages back to back for `ms` milliseconds; resolves with messages/s, all acknowledged. */
async function pipelineOnce(conn: Conn, ms: number): Promise<number> {
  const message = Buffer.alloc(16, 0x71);
  const perBatch = ACK_BYTES / message.length;
  let acked = 0;
  let target = Infinity;
  let done!: () => void;
  const allAcked = new Promise<void>((resolve) => (done = resolve));
  conn.onData = (n) => {
    acked += n;
    if (acked >= target) done();
  };
  const t0 = nowUs();
  const end = t0 + ms * 1000;
  let batches = 0;
  while (nowUs() < end) {
    let wait: Promise<void> | undefined;
    for (let i = 0; i < perBatch; i++) wait = conn.write(message) ?? wait;
    batches++;
    if (wait) await wait;
    else await yieldToLoop();
  }
  target = batches;
  if (acked >= target) done();
  await allAcked;
  return (batches * perBatch * 1e6) / (nowUs() - t0);
}

export async function benchPipeline(ctx: NetContext): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 5;
  const ms = ctx.quick ? 250 : 1000;
  // The floor (bench/floor.ts): messages batched into records that cost only the primitives'
  // calls, each delivered as a Buffer through an EventEmitter.
  const conns = await openAll(ctx, [...STANDARD, { name: 'floor-batch', kind: 'floor-batch' }], 'sink');
  try {
    await interleave(conns, 1, (c) => pipelineOnce(c, ctx.quick ? 150 : 500));
    const rates = await interleave(conns, reps, (c) => pipelineOnce(c, ms));
    return [
      rowFrom('pipeline-16', 'msg/s', rates),
      rowFrom('pipeline-16-floor', 'msg/s', rates, 'secsess', ['floor-batch', 'tls']),
    ];
  } finally {
    await closeAll(conns);
  }
}

// ---- handshakes ----

interface HandshakeSample {
  readonly rate: number;
  /** Server CPU per handshake, µs. */
  readonly serverCpu: number;
}

async function handshakesOnce(
  ctx: NetContext,
  kind: Kind,
  bits: Bits,
  concurrency: number,
  count: number,
): Promise<HandshakeSample> {
  const port = await ctx.port(kind, 'echo', bits);
  const child = await ctx.child(kind);
  const before = await child.request<Stats>({ cmd: 'stats' });
  let next = 0;
  const t0 = nowUs();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const conn = await connect(ctx.files, { kind, port, bits });
        await conn.close();
      }
    }),
  );
  const elapsed = nowUs() - t0;
  const after = await child.request<Stats>({ cmd: 'stats' });
  return { rate: (count * 1e6) / elapsed, serverCpu: (after.cpu - before.cpu) / count };
}

export async function benchHandshakes(ctx: NetContext): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 5;
  const rows: Row[] = [];
  for (const bits of [2048, 3072] as const) {
    for (const concurrency of [1, 8]) {
      const count = (ctx.quick ? 24 : 160) * (concurrency === 1 ? 1 : 2);
      const samples = new Map<string, HandshakeSample[]>();
      const kinds = KINDS.filter((k) => {
        const why = ctx.unavailable(k);
        if (why && bits === 2048 && concurrency === 1) log(`  ${k}: n/a (${why})`);
        return !why;
      });
      for (const kind of kinds) await handshakesOnce(ctx, kind, bits, concurrency, Math.min(count, 20)); // warm-up
      for (let r = 0; r < reps; r++) {
        for (const kind of kinds) {
          try {
            const s = await handshakesOnce(ctx, kind, bits, concurrency, count);
            samples.set(kind, [...(samples.get(kind) ?? []), s]);
          } catch (err) {
            log(`  handshake ${kind}: failed (${(err as Error).message})`);
          }
        }
      }
      const pick = (f: (s: HandshakeSample) => number): Map<string, number[]> =>
        new Map([...samples].map(([k, v]) => [k, v.map(f)]));
      const name = `handshake-${concurrency}-rsa${bits}`;
      rows.push(
        rowFrom(
          name,
          'hs/s',
          pick((s) => s.rate),
        ),
      );
      rows.push(
        rowFrom(
          `${name}-server-cpu`,
          'µs/hs',
          pick((s) => s.serverCpu),
        ),
      );
    }
  }
  return rows;
}
