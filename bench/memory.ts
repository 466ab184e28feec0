/**
 * idle-memory: what an idle, established session costs the server. A fresh server child
 * (with --expose-gc) of each kind is warmed up by a few connections, measured, given N
 * idle sessions (opened 8 at a time from this process), garbage-collected and measured
 * again. Reported per session: the growth of the server's RSS and of its V8 heap, in KiB.
 *
 * `-marginal` is the slope between N/2 and N sessions: what one more idle session costs
 * once the process has grown to its working size (V8's young generation and malloc's
 * high-water grow with the handshakes' garbage, once, and the plain average spreads that
 * one-off over the N sessions).
 */
import { startChild } from './child.js';
import type { ChildHandle, Stats } from './child.js';
import { connect } from './kinds.js';
import type { Conn, Kind } from './kinds.js';
import { KINDS, rowFrom } from './network.js';
import type { NetContext } from './network.js';
import { log } from './util.js';
import type { Row } from './util.js';

async function openMany(ctx: NetContext, kind: Kind, port: number, n: number): Promise<Conn[]> {
  const conns: Conn[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        next++;
        conns.push(await connect(ctx.files, { kind, port }));
      }
    }),
  );
  return conns;
}

/** The child's stats once `n` sessions are open there (after GC). */
async function settled(child: ChildHandle, n: number): Promise<Stats> {
  let stats = await child.request<Stats>({ cmd: 'stats', gc: true });
  for (let i = 0; i < 50 && stats.open < n; i++) {
    await new Promise((r) => setTimeout(r, 20));
    stats = await child.request<Stats>({ cmd: 'stats', gc: true });
  }
  if (stats.open < n) throw new Error(`only ${stats.open} of ${n} sessions open on the server`);
  return stats;
}

async function closeMany(conns: Conn[]): Promise<void> {
  for (let i = 0; i < conns.length; i += 32) {
    await Promise.all(conns.slice(i, i + 32).map((c) => c.close().catch(() => {})));
  }
}

interface Measured {
  readonly rss: number;
  readonly heap: number;
  readonly rssMarginal: number;
}

async function measureKind(ctx: NetContext, kind: Kind, n: number): Promise<Measured> {
  const child = await startChild(ctx.files, { exposeGc: true });
  try {
    const port = await child.request<number>({ cmd: 'listen', kind, mode: 'echo' });
    await closeMany(await openMany(ctx, kind, port, 32)); // load the code paths, fill the pools
    const before = await child.request<Stats>({ cmd: 'stats', gc: true });
    const half = Math.floor(n / 2);
    const conns = await openMany(ctx, kind, port, half);
    const middle = await settled(child, half);
    conns.push(...(await openMany(ctx, kind, port, n - half)));
    const after = await settled(child, n);
    await closeMany(conns);
    return {
      rss: (after.rss - before.rss) / n / 1024,
      heap: (after.heapUsed - before.heapUsed) / n / 1024,
      rssMarginal: (after.rss - middle.rss) / (n - half) / 1024,
    };
  } finally {
    await child.stop();
  }
}

export async function benchIdleMemory(ctx: NetContext): Promise<Row[]> {
  const n = ctx.quick ? 400 : 1000;
  const reps = ctx.quick ? 1 : 3;
  const rss = new Map<string, number[]>();
  const heap = new Map<string, number[]>();
  const marginal = new Map<string, number[]>();
  for (let r = 0; r < reps; r++) {
    for (const kind of KINDS) {
      const why = ctx.unavailable(kind);
      if (why) {
        if (r === 0) log(`  ${kind}: n/a (${why})`);
        continue;
      }
      try {
        const m = await measureKind(ctx, kind, n);
        rss.set(kind, [...(rss.get(kind) ?? []), m.rss]);
        heap.set(kind, [...(heap.get(kind) ?? []), m.heap]);
        marginal.set(kind, [...(marginal.get(kind) ?? []), m.rssMarginal]);
      } catch (err) {
        log(`  ${kind}: failed (${(err as Error).message})`);
      }
    }
  }
  return [
    rowFrom(`idle-memory-rss`, 'KiB/session', rss),
    rowFrom(`idle-memory-rss-marginal`, 'KiB/session', marginal),
    rowFrom(`idle-memory-heap`, 'KiB/session', heap),
  ];
}
