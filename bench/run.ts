/**
 * npm run bench [-- --quick] [-- --json] [-- --only group,group]
 *
 * Runs every scenario group and prints a table per group (or, with --json, one JSON
 * document `{ "results": [ { scenario, unit, secsess, peers } ] }` on stdout; progress and
 * the reasons a peer could not run go to stderr). Every network scenario runs secsess and
 * its peers (raw TCP, node:tls, @hyperswarm/secret-stream) in the same run, servers in child
 * processes; figures are medians of repetitions. bulk, pingpong and pipeline run secsess
 * once per suite (default, -gcm, -chacha) beside the peers and the floors: with records they
 * took 4.6 minutes of a full run on the 2-core machine of BENCHMARKS.md at load 3–7, and
 * the whole full run takes about 7 minutes there when it is quiet; `--quick` runs a reduced
 * version of everything in about 2 minutes. A loaded machine stretches both (bulk most).
 * Groups: records, bulk, pingpong, pipeline, handshake,
 * cores (handshakes/s with 1 and 2 node:cluster server processes), idle-memory,
 * latency, keygen, dgram, tunnel (the `secsess` command beside spiped and
 * stunnel, with real redis-server / redis-benchmark), resume (resumed handshakes beside full
 * ones and node:tls resumption), observe (handshakes and round trips with and without a
 * subscriber on every diagnostics channel). See BENCHMARKS.md.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { startChild } from './child.js';
import type { ChildHandle } from './child.js';
import { makeFiles, removeFiles } from './kinds.js';
import type { BenchFiles, Bits, Kind, Mode } from './kinds.js';
import { benchLatencyUnderHandshakes } from './latency.js';
import { benchIdleMemory } from './memory.js';
import { benchHandshakes } from './network.js';
import type { NetContext } from './network.js';
import { nativeUnavailable } from './floor-aead.js';
import { benchBulk, benchPingPong, benchPipeline, sdkBackends } from './suites.js';
import { log, printTable } from './util.js';
import type { Row } from './util.js';

interface Group {
  readonly name: string;
  readonly run: (ctx: NetContext) => Promise<Row[]>;
}

const GROUPS: Group[] = [
  { name: 'records', run: async (c) => (await import('./records.js')).benchRecords(c) },
  { name: 'bulk', run: benchBulk },
  {
    name: 'pingpong',
    run: async (c) => [...(await benchPingPong(c, 16)), ...(await benchPingPong(c, 1024))],
  },
  { name: 'pipeline', run: benchPipeline },
  { name: 'handshake', run: benchHandshakes },
  { name: 'cores', run: async (c) => (await import('./cores.js')).benchCores(c) },
  { name: 'idle-memory', run: benchIdleMemory },
  { name: 'latency', run: benchLatencyUnderHandshakes },
  { name: 'keygen', run: async (c) => (await import('./keygen.js')).benchKeygen(c) },
  { name: 'dgram', run: async (c) => (await import('./dgram.js')).benchDatagrams(c) },
  { name: 'tunnel', run: async (c) => (await import('./tunnel.js')).benchTunnel(c) },
  { name: 'resume', run: async (c) => (await import('./resume.js')).benchResumption(c) },
  { name: 'observe', run: async (c) => (await import('./observe.js')).benchObserve(c) },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const onlyArg = args.find((_, i) => args[i - 1] === '--only');
const only = onlyArg ? new Set(onlyArg.split(',')) : null;
if (only) {
  const unknown = [...only].filter((n) => !GROUPS.some((g) => g.name === n));
  if (unknown.length > 0) {
    log(`unknown group(s): ${unknown.join(', ')}; groups: ${GROUPS.map((g) => g.name).join(', ')}`);
    process.exit(2);
  }
}

log(
  `secsess bench: node ${process.version} (OpenSSL ${process.versions.openssl}), ` +
    `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, ${quick ? 'quick' : 'full'} run`,
);
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
log(`load average: ${load()}`);
log(
  `sdk AEAD backends: ${Object.entries(sdkBackends())
    .map(([cipher, backend]) => `${cipher} → ${backend}`)
    .join(', ')}${process.env.SECSESS_CRYPTO ? ` (SECSESS_CRYPTO=${process.env.SECSESS_CRYPTO})` : ''}`,
);
if (loadavg()[0]! > 0.5 * availableParallelism()) {
  log('warning: the machine is busy; figures (the network ones most) will be noisy');
}
const started = Date.now();
const files: BenchFiles = await makeFiles();
const children = new Map<Kind, Promise<ChildHandle>>();
const ports = new Map<string, Promise<number>>();
const ctx: NetContext = {
  quick,
  files,
  child(kind) {
    let c = children.get(kind);
    if (!c) children.set(kind, (c = startChild(files)));
    return c;
  },
  port(kind: Kind, mode: Mode, bits: Bits = 2048) {
    // secsess serves both key sizes on one port; the others need one certificate per port.
    const key = `${kind}/${mode}/${kind === 'secsess' ? '' : bits}`;
    let p = ports.get(key);
    if (!p) {
      p = ctx.child(kind).then((c) => c.request<number>({ cmd: 'listen', kind, mode, options: { bits } }));
      ports.set(key, p);
    }
    return p;
  },
  unavailable(kind) {
    if (kind.startsWith('floor-native')) return nativeUnavailable();
    return kind === 'tls' && !files.tls ? (files.tlsError ?? 'no certificate') : null;
  },
};

const results: Row[] = [];
let failed = false;
try {
  for (const group of GROUPS) {
    if (only && !only.has(group.name)) continue;
    log(`• ${group.name}…`);
    const t0 = Date.now();
    try {
      const rows = await group.run(ctx);
      results.push(...rows);
      if (!json) printTable(rows);
    } catch (err) {
      failed = true;
      log(`  ${group.name} failed: ${(err as Error).stack ?? String(err)}`);
    }
    log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
} finally {
  await Promise.all([...children.values()].map(async (c) => (await c).stop()));
  removeFiles(files);
}
log(`total ${((Date.now() - started) / 1000).toFixed(1)} s; load average now: ${load()}`);
if (json) process.stdout.write(JSON.stringify({ results }, null, 2) + '\n');
if (failed) process.exitCode = 1;
