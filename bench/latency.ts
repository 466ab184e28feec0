/**
 * latency-under-handshakes: the echo round trip of one established connection, idle and
 * while a burst of handshakes hits the same server — the case secsess's decryption worker
 * pool exists for. The server runs in its own child, the handshake load in another, the
 * measuring connection in this process. Every kind is loaded with its own handshakes
 * (raw TCP with plain connects); secsess is also measured with `workers: 0` (RSA on the
 * event loop), to show what the pool buys.
 */
import { startChild } from './child.js';
import { connect } from './kinds.js';
import type { Conn, Kind } from './kinds.js';
import { KINDS, rowFrom } from './network.js';
import type { NetContext } from './network.js';
import { log, nowUs, percentile } from './util.js';
import type { Row } from './util.js';

const MESSAGE_SIZE = 16;
const CONCURRENCY = 8;
/** Upper bound on round trips measured while the load runs (the loop ends when the load does). */
const MAX_LOADED_ROUNDS = 1_000_000;

interface Measurement {
  readonly idleP50: number;
  readonly idleP99: number;
  readonly loadedP50: number;
  readonly loadedP99: number;
  /** Handshakes per second the load achieved. */
  readonly rate: number;
}

function roundTrip(conn: Conn, message: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const t0 = nowUs();
    conn.onData = (n) => {
      got += n;
      if (got >= message.length) resolve(nowUs() - t0);
    };
    void conn.write(message);
  });
}

async function measure(
  ctx: NetContext,
  kind: Kind,
  workers: number | undefined,
  rounds: number,
  handshakes: number,
): Promise<Measurement> {
  const server = await startChild(ctx.files);
  const load = await startChild(ctx.files);
  try {
    const port = await server.request<number>({
      cmd: 'listen',
      kind,
      mode: 'echo',
      ...(workers === undefined ? {} : { options: { workers } }),
    });
    const probe = await connect(ctx.files, { kind, port });
    try {
      const message = Buffer.alloc(MESSAGE_SIZE, 0x61);
      // Enough round trips that both processes run optimized code before measuring.
      for (let i = 0; i < rounds; i++) await roundTrip(probe, message);
      const idle: number[] = [];
      for (let i = 0; i < rounds; i++) idle.push(await roundTrip(probe, message));
      let done = false;
      const loadMs = load
        .request<number>({ cmd: 'load', kind, port, count: handshakes, concurrency: CONCURRENCY })
        .finally(() => {
          done = true;
        });
      const loaded: number[] = [];
      for (let i = 0; i < MAX_LOADED_ROUNDS && !done; i++) loaded.push(await roundTrip(probe, message));
      const ms = await loadMs;
      return {
        idleP50: percentile(idle, 50),
        idleP99: percentile(idle, 99),
        loadedP50: percentile(loaded, 50),
        loadedP99: percentile(loaded, 99),
        rate: (handshakes * 1000) / ms,
      };
    } finally {
      await probe.close().catch(() => {});
    }
  } finally {
    await Promise.all([server.stop(), load.stop()]);
  }
}

export async function benchLatencyUnderHandshakes(ctx: NetContext): Promise<Row[]> {
  const rounds = ctx.quick ? 1000 : 3000;
  const handshakes = ctx.quick ? 100 : 400;
  const results = new Map<string, Measurement>();
  const variants: { name: string; kind: Kind; workers?: number }[] = [
    ...KINDS.map((kind) => ({ name: kind, kind })),
    { name: 'secsess-workers-0', kind: 'secsess', workers: 0 },
  ];
  for (const v of variants) {
    const why = ctx.unavailable(v.kind);
    if (why) {
      log(`  ${v.name}: n/a (${why})`);
      continue;
    }
    try {
      results.set(v.name, await measure(ctx, v.kind, v.workers, rounds, handshakes));
    } catch (err) {
      log(`  ${v.name}: failed (${(err as Error).message})`);
    }
  }
  const pick = (f: (m: Measurement) => number): Map<string, number[]> =>
    new Map([...results].map(([k, m]) => [k, [f(m)]]));
  const under = 'latency-under-handshakes';
  return [
    rowFrom(
      'latency-idle-p50',
      'µs',
      pick((m) => m.idleP50),
    ),
    rowFrom(
      'latency-idle-p99',
      'µs',
      pick((m) => m.idleP99),
    ),
    rowFrom(
      `${under}-p50`,
      'µs',
      pick((m) => m.loadedP50),
    ),
    rowFrom(
      `${under}-p99`,
      'µs',
      pick((m) => m.loadedP99),
    ),
    rowFrom(
      `${under}-p99/idle-p99`,
      '×',
      pick((m) => m.loadedP99 / m.idleP99),
    ),
    rowFrom(
      `${under}-p99-workers-0`,
      'µs',
      pick((m) => m.loadedP99),
      'secsess-workers-0',
    ),
    rowFrom(
      `${under}-rate`,
      'hs/s',
      pick((m) => m.rate),
    ),
  ];
}
