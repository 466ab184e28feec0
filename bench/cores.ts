/**
 * Across cores (`npm run bench -- --only cores`): full secsess handshakes/s, 8 clients at a
 * time (RSA-2048), against one server process and against two node:cluster worker
 * processes sharing one port (bench/cluster-server.ts), same run, interleaved. The clients
 * run in two processes of their own (bench/child.ts `load`, 4 handshakes at a time each), so
 * neither an event loop of theirs nor the measuring process is what bounds the rate.
 *
 *   cores-handshake-8-rsa2048              hs/s: 2 cluster processes (library defaults) beside
 *                                          1 process; secsess/peer is the speed-up
 *   cores-handshake-8-rsa2048-server-cpu   µs of server CPU per handshake (every server
 *                                          process, all threads, the cluster primary included;
 *                                          /proc/PID/stat utime + stime)
 *   cores-handshakes-per-server-core-s     1e6 / the row above: handshakes one core of server
 *                                          CPU completes per second, the figure to scale by
 *   cores-handshake-8-client-cpu           µs of client CPU per handshake (both client processes)
 *   cores-rsa-threads-2x                   hs/s of 2 cluster processes with 0, 1 or 2 RSA
 *   cores-rsa-threads-2x-server-cpu        threads each beside the default: what the
 *                                          cluster-worker default of `workers` is chosen by
 *
 * On a machine whose cores the clients share, the hs/s rows say how the server uses the
 * machine; the per-core-second row is what carries over to a bigger one (BENCHMARKS.md,
 * "Across cores").
 */
import { readFileSync } from 'node:fs';
import { startChild } from './child.js';
import type { ChildHandle, Stats } from './child.js';
import { startServers } from './cluster-server.js';
import type { RunningServers, ServerSetup } from './cluster-server.js';
import { rowFrom } from './network.js';
import type { NetContext } from './network.js';
import { log, median, nowUs } from './util.js';
import type { Row } from './util.js';

const CLIENT_PROCESSES = 2;
const CLIENTS_PER_PROCESS = 4;

interface Setup extends ServerSetup {
  readonly name: string;
}

const ONE = '1-process';
const TWO = '2-processes';
const SETUPS: readonly Setup[] = [
  { name: ONE, processes: 0 },
  { name: TWO, processes: 2 },
  { name: '2x0-threads', processes: 2, workers: 0 },
  { name: '2x1-threads', processes: 2, workers: 1 },
  { name: '2x2-threads', processes: 2, workers: 2 },
  { name: '2-processes-sched-none', processes: 2, scheduling: 'none' },
];

interface Sample {
  /** Handshakes per second, all clients together. */
  readonly rate: number;
  /** Server CPU per handshake, µs. */
  readonly serverCpu: number;
  /** Client CPU per handshake, µs. */
  readonly clientCpu: number;
  /** The cluster primary's share of `serverCpu` (it accepts and hands on every connection), µs; 0 without cluster. */
  readonly primaryCpu: number;
  /** Cores the servers kept busy on average (CPU time / wall time). */
  readonly serverCores: number;
  readonly clientCores: number;
}

const TICK_US = 1e6 / 100; // USER_HZ: 100 on every Linux the bench runs on

/** User + system CPU time (µs) of processes, every thread, from /proc/PID/stat; null off Linux. */
export function procCpuUs(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(fields[11]) + Number(fields[12])) * TICK_US; // utime, stime (fields 14, 15)
    } catch {
      return null;
    }
  }
  return sum;
}

/** Resident set size of processes (bytes), from /proc/PID/statm; null off Linux. */
function rssBytes(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
    } catch {
      return null;
    }
  }
  return sum;
}

async function clientCpuUs(loads: readonly ChildHandle[]): Promise<number> {
  const stats = await Promise.all(loads.map((l) => l.request<Stats>({ cmd: 'stats' })));
  return stats.reduce((sum, s) => sum + s.cpu, 0);
}

/** `count` handshakes (connect, handshake, graceful close) spread over the client processes. */
async function sample(
  servers: RunningServers,
  loads: readonly ChildHandle[],
  count: number,
): Promise<Sample> {
  const server0 = procCpuUs(servers.pids);
  const primary0 = servers.pids.length > 1 ? procCpuUs(servers.pids.slice(0, 1)) : 0;
  const client0 = await clientCpuUs(loads);
  const t0 = nowUs();
  await Promise.all(
    loads.map((load) =>
      load.request<number>({
        cmd: 'load',
        kind: 'secsess',
        port: servers.port,
        count: Math.ceil(count / loads.length),
        concurrency: CLIENTS_PER_PROCESS,
      }),
    ),
  );
  const wall = nowUs() - t0;
  const server1 = procCpuUs(servers.pids);
  const primary1 = servers.pids.length > 1 ? procCpuUs(servers.pids.slice(0, 1)) : 0;
  const client1 = await clientCpuUs(loads);
  if (server0 === null || server1 === null || primary0 === null || primary1 === null)
    throw new Error('no /proc/PID/stat: the cores group needs Linux');
  const done = Math.ceil(count / loads.length) * loads.length;
  return {
    rate: (done * 1e6) / wall,
    serverCpu: (server1 - server0) / done,
    clientCpu: (client1 - client0) / done,
    primaryCpu: (primary1 - primary0) / done,
    serverCores: (server1 - server0) / wall,
    clientCores: (client1 - client0) / wall,
  };
}

export async function benchCores(ctx: NetContext): Promise<Row[]> {
  // Short samples, many rounds: the setups take turns often, so bursts of other load on a
  // shared machine fall on all of them alike.
  const reps = ctx.quick ? 3 : 11;
  const count = ctx.quick ? 160 : 400;
  const loads = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, () => startChild(ctx.files)));
  const running = new Map<string, RunningServers>();
  try {
    for (const setup of SETUPS) running.set(setup.name, await startServers(ctx.files, setup));
    for (const servers of running.values()) await sample(servers, loads, 160); // warm-up
    const samples = new Map<string, Sample[]>();
    for (let r = 0; r < reps; r++) {
      for (const [name, servers] of running) {
        try {
          const s = await sample(servers, loads, count);
          samples.set(name, [...(samples.get(name) ?? []), s]);
        } catch (err) {
          log(`  ${name}: failed (${(err as Error).message})`);
        }
      }
    }
    for (const [name, list] of samples) {
      const m = (f: (s: Sample) => number): string => median(list.map(f)).toFixed(2);
      const rss = rssBytes(running.get(name)!.pids);
      log(
        `  ${name}: ${list.map((s) => s.rate.toFixed(0)).join(' / ')} hs/s; ` +
          (rss === null ? '' : `RSS ${(rss / 2 ** 20).toFixed(0)} MiB; `) +
          `cores busy: servers ${m((s) => s.serverCores)}, clients ${m((s) => s.clientCores)}; ` +
          `server CPU ${m((s) => s.serverCpu)} µs/hs (cluster primary ${m((s) => s.primaryCpu)})`,
      );
    }
    const pick = (f: (s: Sample) => number): Map<string, number[]> =>
      new Map([...samples].map(([k, v]) => [k, v.map(f)]));
    const threads = SETUPS.filter((s) => s.workers !== undefined).map((s) => s.name);
    const others = [ONE, ...SETUPS.filter((s) => s.scheduling !== undefined).map((s) => s.name)];
    return [
      rowFrom(
        'cores-handshake-8-rsa2048',
        'hs/s',
        pick((s) => s.rate),
        TWO,
        others,
      ),
      rowFrom(
        'cores-handshake-8-rsa2048-server-cpu',
        'µs/hs',
        pick((s) => s.serverCpu),
        TWO,
        others,
      ),
      rowFrom(
        'cores-handshakes-per-server-core-s',
        'hs/core-s',
        pick((s) => 1e6 / s.serverCpu),
        TWO,
        others,
      ),
      rowFrom(
        'cores-handshake-8-client-cpu',
        'µs/hs',
        pick((s) => s.clientCpu),
        TWO,
        [ONE],
      ),
      rowFrom(
        'cores-rsa-threads-2x',
        'hs/s',
        pick((s) => s.rate),
        TWO,
        threads,
      ),
      rowFrom(
        'cores-rsa-threads-2x-server-cpu',
        'µs/hs',
        pick((s) => s.serverCpu),
        TWO,
        threads,
      ),
    ];
  } finally {
    await Promise.all([...running.values()].map((s) => s.stop()));
    await Promise.all(loads.map((l) => l.stop()));
  }
}
