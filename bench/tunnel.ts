/**
 * Tunnels (`npm run bench -- --only tunnel`): the `secsess` command beside spiped, stunnel
 * and no tunnel at all (`direct`), same run, loopback, each tunnel a pair of processes
 * (entry → exit → service; bench/tunnel-peers.ts). Rows, every kind interleaved:
 *
 *   tunnel-copy-SIZE        MB/s of one TCP connection writing SIZE (1 GiB; 64 MiB quick) in
 *                           64 KiB writes into the bench's raw-TCP sink (a child process),
 *                           until the sink has acknowledged every byte through the tunnel
 *   tunnel-copy-cpu         CPU time (user + system) of the tunnel's two processes per 64 KiB
 *                           copied (from /proc; Linux only; none for direct)
 *   tunnel-copy-cpu-bound   node-relay's CPU plus one 64 KiB AEAD seal and open in-process
 *                           with the command's cipher and backend: the least a Node tunnel
 *                           of this shape can spend (cpuBoundRow)
 *   tunnel-redis-get-P1     GET/s of `redis-benchmark -t get -c 16 -P 1` against a real
 *   tunnel-redis-get-P16    redis-server (the key holds 3 bytes), and with -P 16; here also
 *                           `connect --no-channels` (secsess-no-channels) and `serve
 *                           --workers 2` (secsess-serve-2-workers)
 *
 * A kind that cannot run (program missing) is null and the reason is on stderr.
 */
import { randomBytes } from 'node:crypto';
import { findProgram, runProgram } from '../cli/test/helpers/programs.js';
import { defaultSymmetric } from '../cli/src/tunnel/options.js';
import { createAeadKey, cryptoBackends } from '../sdk/src/protocol/aead.js';
import type { AeadCipher } from '../sdk/src/protocol/aead.js';
import { startRedis } from '../cli/test/helpers/services.js';
import type { Service } from '../cli/test/helpers/services.js';
import { connect } from './kinds.js';
import type { Conn } from './kinds.js';
import { bulkOnce, rowFrom } from './network.js';
import type { NetContext } from './network.js';
import {
  NO_CHANNELS_TUNNEL,
  openTunnel,
  TUNNELS,
  tunnelUnavailable,
  WORKERS_TUNNEL,
} from './tunnel-peers.js';
import type { Tunnel, TunnelKind } from './tunnel-peers.js';
import { log, medianOrNull, procCpuUs, timeUsEach } from './util.js';
import type { Row } from './util.js';

const PEERS = TUNNELS.filter((k) => k !== 'secsess');
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

export async function benchTunnel(ctx: NetContext): Promise<Row[]> {
  const kinds: TunnelKind[] = [];
  for (const kind of TUNNELS) {
    const why = tunnelUnavailable(kind, ctx.files);
    if (why) log(`  ${kind}: n/a (${why})`);
    else kinds.push(kind);
  }
  log(`  ${await versions()}`);
  const tunnels: Tunnel[] = [];
  const open = async (kind: TunnelKind, port: number): Promise<Tunnel | null> => {
    try {
      const t = await openTunnel(kind, ctx.files, port);
      tunnels.push(t);
      return t;
    } catch (err) {
      log(`  ${kind}: n/a (${(err as Error).message})`);
      return null;
    }
  };
  let redis: Service | null = null;
  try {
    const rows = await copyRows(ctx, kinds, open);
    const missing = ['redis-server', 'redis-benchmark', 'redis-cli'].filter((p) => !findProgram(p));
    if (missing.length > 0) {
      log(`  redis rows: n/a (${missing.join(', ')} not installed)`);
    } else {
      redis = await startRedis();
      const extra = ([NO_CHANNELS_TUNNEL, WORKERS_TUNNEL] as const).filter(
        (k) => tunnelUnavailable(k, ctx.files) === null,
      );
      rows.push(...(await redisRows(ctx, [...kinds, ...extra], redis, open)));
    }
    return rows;
  } finally {
    await Promise.all(tunnels.map((t) => t.stop()));
    await redis?.stop();
  }
}

/** The peers' and the service's versions, for the record. */
async function versions(): Promise<string> {
  const first = async (program: string | null, args: string[]): Promise<string | null> => {
    if (program === null) return null;
    const r = await runProgram(program, args, { timeoutMs: 10_000 });
    return (
      r.output
        .split('\n')
        .find((l) => /\d+\.\d+/.test(l))
        ?.trim() ?? null
    );
  };
  const found = await Promise.all([
    first(findProgram('spiped'), ['-v']),
    first(findProgram('stunnel4') ?? findProgram('stunnel'), ['-version']),
    first(findProgram('redis-server'), ['--version']),
  ]);
  return found.filter((v) => v !== null).join('; ');
}

type Open = (kind: TunnelKind, port: number) => Promise<Tunnel | null>;

/** Runs `measure` for each kind in turn, `reps` rounds; a failed sample is reported and left out. */
async function interleaved<K, T>(
  kinds: ReadonlyMap<TunnelKind, K>,
  reps: number,
  measure: (value: K, kind: TunnelKind) => Promise<T>,
): Promise<Map<TunnelKind, T[]>> {
  const out = new Map<TunnelKind, T[]>();
  for (let r = 0; r < reps; r++) {
    for (const [kind, value] of kinds) {
      try {
        const sample = await measure(value, kind);
        out.set(kind, [...(out.get(kind) ?? []), sample]);
      } catch (err) {
        log(`  ${kind}: failed (${(err as Error).message})`);
      }
    }
  }
  return out;
}

function row(
  scenario: string,
  unit: string,
  samples: Map<TunnelKind, number[]>,
  peers: readonly TunnelKind[] = PEERS,
): Row {
  return rowFrom(scenario, unit, samples, 'secsess', peers);
}

// ---- copy ----

async function copyRows(ctx: NetContext, kinds: readonly TunnelKind[], open: Open): Promise<Row[]> {
  const total = ctx.quick ? 64 * 2 ** 20 : 2 ** 30;
  const reps = 3; // a GiB each: 3 is enough for a median, quick or not
  const sinkPort = await ctx.port('tcp', 'sink');
  const conns = new Map<TunnelKind, { conn: Conn; tunnel: Tunnel }>();
  for (const kind of kinds) {
    const tunnel = await open(kind, sinkPort);
    if (!tunnel) continue;
    try {
      conns.set(kind, { conn: await connect(ctx.files, { kind: 'tcp', port: tunnel.port }), tunnel });
    } catch (err) {
      log(`  ${kind}: n/a (${(err as Error).message})\n${tunnel.output()}`);
    }
  }
  try {
    await interleaved(conns, 1, ({ conn }) => bulkOnce(conn, 16 * 2 ** 20, CHUNK)); // warm-up
    const samples = await interleaved(conns, reps, async ({ conn, tunnel }) => {
      const before = cpuUs(tunnel);
      const mbs = await bulkOnce(conn, total, CHUNK);
      const after = cpuUs(tunnel);
      const cpu = before === null || after === null ? null : ((after - before) * CHUNK.length) / total;
      return { mbs, cpu };
    });
    const pick = (f: (s: { mbs: number; cpu: number | null }) => number | null): Map<TunnelKind, number[]> =>
      new Map([...samples].map(([k, s]) => [k, s.map(f).filter((v): v is number => v !== null)]));
    const size = ctx.quick ? '64MiB' : '1GiB';
    const cpu = pick((s) => s.cpu);
    return [
      row(
        `tunnel-copy-${size}`,
        'MB/s',
        pick((s) => s.mbs),
      ),
      row('tunnel-copy-cpu', 'µs/64KiB', cpu),
      cpuBoundRow(cpu),
    ];
  } finally {
    await Promise.all([...conns.values()].map(({ conn }) => conn.close().catch(() => {})));
  }
}

/**
 * `tunnel-copy-cpu-bound`: the least CPU per 64 KiB that any tunnel of secsess's shape can
 * spend, from the same run — the `node-relay` floor's two processes (one Node event loop per
 * end, no crypto, the command's buffer discipline) plus one seal and one open of a 64 KiB
 * record in one reused buffer, in place, with the cipher and backend the command uses
 * (connect's default, or BENCH_TUNNEL_SYMMETRIC; since session 13 AES-256-GCM on
 * @secsess/native where it was built, before that ChaCha20-Poly1305 on libsodium), measured
 * in this process through the sdk's own AEAD key (the cipher calls, nothing else). In the
 * secsess column; beside it the peers' and secsess's own CPU. Where the bound is above
 * stunnel's CPU, no tunnel of this shape can match stunnel on a copy that is CPU-bound.
 */
function cpuBoundRow(cpu: Map<TunnelKind, number[]>): Row {
  const relay = medianOrNull(cpu.get('node-relay') ?? []);
  const cipher = tunnelCipher();
  const key = createAeadKey(cipher, randomBytes(32));
  const record = Buffer.alloc(CHUNK.length + 32, 0x5a);
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(12);
  const to = 16 + CHUNK.length;
  let seq = 0;
  const [aead] = timeUsEach(
    [
      () => {
        nonce.writeUInt32BE(seq++, 8);
        key.sealInPlace(nonce, aad, record, 16, to);
        if (!key.openInto(nonce, aad, record, 16, to, record, 16)) throw new Error('the bound: open failed');
      },
    ],
    200,
    9,
  );
  key.destroy();
  const peers = ['stunnel', 'spiped', 'secsess'] as const;
  return {
    scenario: 'tunnel-copy-cpu-bound',
    unit: 'µs/64KiB',
    secsess: relay === null || aead === undefined ? null : relay + aead,
    peers: Object.fromEntries(peers.map((k) => [k, medianOrNull(cpu.get(k) ?? [])])),
  };
}

/** The AEAD cipher connect uses here: BENCH_TUNNEL_SYMMETRIC, else its own default. */
function tunnelCipher(): AeadCipher {
  const asked = process.env.BENCH_TUNNEL_SYMMETRIC ?? defaultSymmetric(cryptoBackends());
  if (asked === 'aes-256-gcm' || asked === 'chacha20-poly1305') return asked;
  throw new Error(`the copy's bound needs an AEAD cipher, not ${asked}`);
}

/** User + system CPU time of the tunnel's processes (µs), from /proc/PID/stat; null elsewhere and for `direct`. */
function cpuUs(tunnel: Tunnel): number | null {
  return tunnel.pids.length === 0 ? null : procCpuUs(tunnel.pids);
}

// ---- redis ----

async function redisRows(
  ctx: NetContext,
  kinds: readonly TunnelKind[],
  redis: Service,
  open: Open,
): Promise<Row[]> {
  const set = await runProgram('redis-cli', ['-p', String(redis.port), 'SET', 'key:__rand_int__', 'xxx']);
  if (set.exit.code !== 0) throw new Error(`redis-cli SET failed: ${set.output}`);
  const ports = new Map<TunnelKind, number>();
  for (const kind of kinds) {
    const tunnel = await open(kind, redis.port);
    if (tunnel) ports.set(kind, tunnel.port);
  }
  const reps = 3;
  const rows: Row[] = [];
  for (const pipeline of [1, 16]) {
    const n = (ctx.quick ? 20_000 : 100_000) * (pipeline === 1 ? 1 : 10);
    await interleaved(ports, 1, (port) => getsPerSecond(port, pipeline, Math.min(n, 20_000))); // warm-up
    const samples = await interleaved(ports, reps, (port) => getsPerSecond(port, pipeline, n));
    rows.push(
      row(`tunnel-redis-get-P${pipeline}`, 'GET/s', samples, [...PEERS, NO_CHANNELS_TUNNEL, WORKERS_TUNNEL]),
    );
  }
  return rows;
}

/** `redis-benchmark -t get -c 16 -P p -n n --csv` against port: its GET requests/s. */
async function getsPerSecond(port: number, pipeline: number, n: number): Promise<number> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'get', '-c', '16', '-n', String(n)];
  const r = await runProgram('redis-benchmark', [...args, '-P', String(pipeline), '--csv'], {
    timeoutMs: 300_000,
  });
  const line = r.output.split('\n').find((l) => l.startsWith('"GET"'));
  const rps = line === undefined ? NaN : Number(line.split(',')[1]?.replaceAll('"', ''));
  if (r.exit.code !== 0 || !Number.isFinite(rps))
    throw new Error(`redis-benchmark failed: ${r.output.slice(-2000)}`);
  return rps;
}
