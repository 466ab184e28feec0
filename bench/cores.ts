/**
 * Across cores (`npm run bench -- --only cores`): full secsess handshakes/s, 8 clients at a
 * time (RSA-2048), against one server process and against two node:cluster worker processes
 * sharing one port (bench/cluster-server.ts), same run, interleaved. The clients run in two
 * processes of their own (bench/child.ts `load`, 4 handshakes at a time each), so neither an
 * event loop of theirs nor the measuring process is what bounds the rate.
 *
 *   cores-handshake-8-rsa2048              hs/s: 2 cluster processes (node's default
 *                                          round-robin, the library's defaults) beside 1
 *                                          process and beside 2 with SCHED_NONE
 *   cores-handshake-8-rsa2048-server-cpu   µs of server CPU per handshake: every server process,
 *                                          all threads, the cluster primary included
 *                                          (/proc/PID/stat utime + stime)
 *   cores-handshakes-per-server-core-s     1e6 / the row above: handshakes one core of server
 *                                          CPU completes per second, the figure to scale by
 *   cores-cluster-primary-cpu              the round-robin primary's share of it (it accepts
 *                                          every connection and passes it to a worker over
 *                                          IPC): one event loop, so 1e6 / this is a ceiling
 *   cores-event-loop-cpu                   the serving processes' main threads' share (not the
 *                                          RSA threads, not the primary): 1e6 / this is the
 *                                          most one process can do, whatever the cores
 *   cores-tcp-connection-server-cpu        the same three setups serving plain TCP (connect and
 *                                          close): what node:cluster itself
 *                                          costs per connection, whatever the protocol
 *   cores-handshake-8-client-cpu           µs of client CPU per handshake (both client processes)
 *   cores-rsa-threads-2x[-server-cpu]      2 cluster processes with 0, 1 or 2 RSA threads each
 *                                          beside the default: what the cluster-worker default
 *                                          of `workers` is chosen by
 *
 * With the clients on the same cores, the hs/s rows say how the server shares this machine;
 * the CPU rows are what carries over to a bigger one (BENCHMARKS.md, "Across cores").
 */
import { startChild } from './child.js';
import type { ChildHandle, Stats } from './child.js';
import { startServers } from './cluster-server.js';
import type { RunningServers, ServerSetup } from './cluster-server.js';
import { rowFrom } from './network.js';
import type { NetContext } from './network.js';
import { log, median, nowUs, procCpuUs, procRssBytes } from './util.js';
import type { Row } from './util.js';

const CLIENT_PROCESSES = 2;
const CLIENTS_PER_PROCESS = 4;

interface Setup extends ServerSetup {
  readonly name: string;
}

const ONE = '1-process';
const TWO = '2-processes';
const NONE = '2-processes-sched-none';
const SECSESS: readonly Setup[] = [
  { name: ONE, processes: 0 },
  { name: TWO, processes: 2 },
  { name: NONE, processes: 2, scheduling: 'none' },
  { name: '2x0-threads', processes: 2, workers: 0 },
  { name: '2x1-threads', processes: 2, workers: 1 },
  { name: '2x2-threads', processes: 2, workers: 2 },
];
const TCP: readonly Setup[] = [
  { name: ONE, processes: 0, kind: 'tcp' },
  { name: TWO, processes: 2, kind: 'tcp' },
  { name: NONE, processes: 2, scheduling: 'none', kind: 'tcp' },
];

interface Sample {
  /** Connections (handshakes) per second, all clients together. */
  readonly rate: number;
  /** Server CPU per connection, µs. */
  readonly serverCpu: number;
  /** The cluster primary's share of `serverCpu`, µs; 0 without cluster. */
  readonly primaryCpu: number;
  /** The serving processes' main threads' share (event loops; the primary's not counted), µs. */
  readonly eventLoopCpu: number;
  /** Client CPU per connection, µs. */
  readonly clientCpu: number;
  /** Cores the servers and the clients kept busy on average (CPU time / wall time). */
  readonly serverCores: number;
  readonly clientCores: number;
}

async function clientCpuUs(loads: readonly ChildHandle[]): Promise<number> {
  const stats = await Promise.all(loads.map((l) => l.request<Stats>({ cmd: 'stats' })));
  return stats.reduce((sum, s) => sum + s.cpu, 0);
}

/** `count` connections (connect, handshake, graceful close) spread over the client processes. */
async function sample(
  setup: Setup,
  servers: RunningServers,
  loads: readonly ChildHandle[],
  count: number,
): Promise<Sample> {
  const serving = setup.processes > 0 ? servers.pids.slice(1) : servers.pids;
  const cpu = (): { server: number | null; primary: number | null; loops: number | null } => ({
    server: procCpuUs(servers.pids),
    primary: setup.processes > 0 ? procCpuUs(servers.pids.slice(0, 1)) : 0,
    loops: procCpuUs(serving, { mainThread: true }),
  });
  const each = Math.ceil(count / loads.length);
  const before = cpu();
  const client0 = await clientCpuUs(loads);
  const t0 = nowUs();
  await Promise.all(
    loads.map((load) =>
      load.request<number>({
        cmd: 'load',
        kind: setup.kind ?? 'secsess',
        port: servers.port,
        count: each,
        concurrency: CLIENTS_PER_PROCESS,
      }),
    ),
  );
  const wall = nowUs() - t0;
  const after = cpu();
  const client1 = await clientCpuUs(loads);
  if ([...Object.values(before), ...Object.values(after)].includes(null))
    throw new Error('no /proc/PID/stat: the cores group needs Linux');
  const done = each * loads.length;
  const server = after.server! - before.server!;
  return {
    rate: (done * 1e6) / wall,
    serverCpu: server / done,
    primaryCpu: (after.primary! - before.primary!) / done,
    eventLoopCpu: (after.loops! - before.loops!) / done,
    clientCpu: (client1 - client0) / done,
    serverCores: server / wall,
    clientCores: (client1 - client0) / wall,
  };
}

/**
 * Starts every setup, warms each up, then runs `reps` rounds of one short sample per setup in
 * turn, so that bursts of other load on a shared machine fall on all of them alike.
 */
async function measure(
  ctx: NetContext,
  loads: readonly ChildHandle[],
  setups: readonly Setup[],
  reps: number,
  count: number,
): Promise<Map<string, Sample[]>> {
  const running = new Map<Setup, RunningServers>();
  const samples = new Map<string, Sample[]>();
  try {
    for (const setup of setups) running.set(setup, await startServers(ctx.files, setup));
    for (const [setup, servers] of running) await sample(setup, servers, loads, Math.min(count, 160));
    for (let r = 0; r < reps; r++) {
      for (const [setup, servers] of running) {
        try {
          const s = await sample(setup, servers, loads, count);
          samples.set(setup.name, [...(samples.get(setup.name) ?? []), s]);
        } catch (err) {
          log(`  ${setup.name}: failed (${(err as Error).message})`);
        }
      }
    }
    for (const [setup, servers] of running) {
      const list = samples.get(setup.name) ?? [];
      const m = (f: (s: Sample) => number, digits = 0): string => median(list.map(f)).toFixed(digits);
      const rss = procRssBytes(servers.pids);
      log(
        `  ${setup.kind ?? 'secsess'} ${setup.name}: ${list.map((s) => s.rate.toFixed(0)).join(' / ')} /s; ` +
          `server CPU ${m((s) => s.serverCpu)} µs each (primary ${m((s) => s.primaryCpu)}, ` +
          `event loops ${m((s) => s.eventLoopCpu)}); ` +
          `cores busy: servers ${m((s) => s.serverCores, 2)}, clients ${m((s) => s.clientCores, 2)}` +
          (rss === null ? '' : `; RSS ${(rss / 2 ** 20).toFixed(0)} MiB`),
      );
    }
  } finally {
    await Promise.all([...running.values()].map((s) => s.stop()));
  }
  return samples;
}

export async function benchCores(ctx: NetContext): Promise<Row[]> {
  const reps = ctx.quick ? 3 : 11;
  const count = ctx.quick ? 160 : 400;
  const loads = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, () => startChild(ctx.files)));
  try {
    const hs = await measure(ctx, loads, SECSESS, reps, count);
    const tcp = await measure(ctx, loads, TCP, reps, 5 * count);
    const pick = (from: Map<string, Sample[]>, f: (s: Sample) => number): Map<string, number[]> =>
      new Map([...from].map(([k, v]) => [k, v.map(f)]));
    const threads = SECSESS.filter((s) => s.workers !== undefined).map((s) => s.name);
    return [
      rowFrom(
        'cores-handshake-8-rsa2048',
        'hs/s',
        pick(hs, (s) => s.rate),
        TWO,
        [ONE, NONE],
      ),
      rowFrom(
        'cores-handshake-8-rsa2048-server-cpu',
        'µs/hs',
        pick(hs, (s) => s.serverCpu),
        TWO,
        [ONE, NONE],
      ),
      rowFrom(
        'cores-handshakes-per-server-core-s',
        'hs/core-s',
        pick(hs, (s) => 1e6 / s.serverCpu),
        TWO,
        [ONE, NONE],
      ),
      rowFrom(
        'cores-cluster-primary-cpu',
        'µs/hs',
        pick(hs, (s) => s.primaryCpu),
        TWO,
        [],
      ),
      rowFrom(
        'cores-event-loop-cpu',
        'µs/hs',
        pick(hs, (s) => s.eventLoopCpu),
        TWO,
        [ONE, NONE],
      ),
      rowFrom(
        'cores-tcp-connection-server-cpu',
        'µs/conn',
        pick(tcp, (s) => s.serverCpu),
        TWO,
        [ONE, NONE],
      ),
      rowFrom(
        'cores-tcp-connection-primary-cpu',
        'µs/conn',
        pick(tcp, (s) => s.primaryCpu),
        TWO,
        [],
      ),
      rowFrom(
        'cores-handshake-8-client-cpu',
        'µs/hs',
        pick(hs, (s) => s.clientCpu),
        TWO,
        [ONE],
      ),
      rowFrom(
        'cores-rsa-threads-2x',
        'hs/s',
        pick(hs, (s) => s.rate),
        TWO,
        threads,
      ),
      rowFrom(
        'cores-rsa-threads-2x-server-cpu',
        'µs/hs',
        pick(hs, (s) => s.serverCpu),
        TWO,
        threads,
      ),
    ];
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
  }
}
