/**
 * Network scenarios over loopback TCP: the server of each kind in a child process, the
 * measuring client here. Every scenario opens one connection per kind, warms each up, then
 * runs its repetitions interleaved (secsess, tcp, tls, secret-stream, secsess, …) so drift
 * hits every kind alike; figures are medians over repetitions. This file holds the shared
 * machinery, the single-transfer loops and the handshakes; bulk, ping-pong and pipeline,
 * which run once per secsess suite, are in bench/suites.ts.
 *
 *   handshake-C-rsaB handshakes/s (connect, handshake, graceful close), C clients at a time,
 *                   with the server's CPU time per handshake
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { ACK_BYTES, connect } from './kinds.js';
import type { BenchFiles, Bits, Conn, ConnectOptions, Kind, Mode } from './kinds.js';
import type { ChildHandle, Stats } from './child.js';
import { log, medianOrNull, nowUs } from './util.js';
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

export const STANDARD: readonly Variant[] = KINDS.map((kind) => ({ name: kind, kind }));

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

/** Closes every connection; one that has not closed after 10 s is left behind. */
export async function closeAll(conns: Map<string, Conn>): Promise<void> {
  await Promise.all([...conns.values()].map((c) => within(c.close(), 10_000).catch(() => {})));
}

/**
 * A measurement that has not finished after this long has stalled (a lost wake-up, a peer
 * gone): it fails, and its kind leaves the scenario, so one stuck connection cannot hang
 * the run. Far above any repetition on a loaded machine (bulk's 1 GiB at 30 MB/s: 35 s).
 */
const STALL_MS = 300_000;

/** `promise`, or a rejection after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stalled for ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs `measure` for every connection, `reps` times, interleaved; returns every sample by name. */
export async function interleave<T>(
  conns: Map<string, Conn>,
  reps: number,
  measure: (conn: Conn, name: string) => Promise<T>,
): Promise<Map<string, T[]>> {
  const out = new Map<string, T[]>();
  const stalled = new Set<string>();
  for (let r = 0; r < reps; r++) {
    for (const [name, conn] of conns) {
      if (stalled.has(name)) continue;
      try {
        const v = await within(measure(conn, name), STALL_MS);
        out.set(name, [...(out.get(name) ?? []), v]);
      } catch (err) {
        log(`  ${name}: failed (${(err as Error).message})`);
        if ((err as Error).message.startsWith('stalled')) stalled.add(name);
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

// ---- pipeline ----

/** Writes 16-byte messages back to back for `ms` milliseconds; resolves with messages/s, all acknowledged. */
export async function pipelineOnce(conn: Conn, ms: number): Promise<number> {
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
