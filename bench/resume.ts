/**
 * The resumption group (`npm run bench -- --only resume`): handshakes/s of resumed secsess
 * sessions beside full secsess handshakes and node:tls TLS 1.3, full and resumed, with 1
 * and 8 clients at a time. Each connection is connect, one 16-byte round trip (so the next
 * ticket has arrived), graceful close. The servers run in their kinds' child processes
 * (secsess with one ticket key, RSA-2048; node:tls with an RSA-2048 certificate and its
 * default session tickets), the clients in a third process (bench/resume-clients.ts), so
 * that neither side takes the other's CPU inside one process; on a 2-core machine the
 * client process and the server still share the cores.
 *
 *   resume-C              hs/s: secsess resumed; peers: full (secsess full handshakes),
 *                         tls, tls-resumed, tcp (raw TCP: connect, round trip, close — the
 *                         floor of all of them)
 *   resume-C-server-cpu   the server process's CPU time per connection, µs
 *   resume-C-client-cpu   the client process's CPU time per connection, µs
 *
 *   resume-8-rsa3072      resumed and full secsess with an RSA-3072 server key (secsess-keygen's
 *                         default), 8 clients; -server-cpu beside it
 *   resume-core           the sans-IO core alone, in memory (bench/resume-core.ts)
 *
 * Issue 16's target: resumed ≥ 5× full secsess and ≥ node:tls resumed.
 */
import { startChild } from './child.js';
import type { ChildHandle, Stats } from './child.js';
import type { Bits, Kind } from './kinds.js';
import type { NetContext } from './network.js';
import { RESUME_VARIANTS } from './resume-clients.js';
import { benchResumeCore } from './resume-core.js';
import type { ResumeLoadResult, ResumeVariant } from './resume-clients.js';
import { log, medianOrNull } from './util.js';
import type { Row } from './util.js';

interface Sample {
  readonly rate: number;
  readonly serverCpu: number;
  readonly clientCpu: number;
}

/** How each variant is named in the rows: the resumed secsess figure is the row's own. */
const PEER_NAME: Record<ResumeVariant, string | null> = {
  'secsess-resumed': null,
  secsess: 'full',
  tls: 'tls',
  'tls-resumed': 'tls-resumed',
  tcp: 'tcp',
};

const kindOf = (variant: ResumeVariant): Kind =>
  variant === 'tcp' ? 'tcp' : variant.startsWith('tls') ? 'tls' : 'secsess';

export async function benchResumption(ctx: NetContext): Promise<Row[]> {
  const ms = ctx.quick ? 400 : 1500;
  const reps = ctx.quick ? 3 : 5;
  const tlsWhy = ctx.unavailable('tls');
  if (tlsWhy) log(`  tls, tls-resumed: n/a (${tlsWhy})`);
  const variants = RESUME_VARIANTS.filter((v) => kindOf(v) !== 'tls' || !tlsWhy);
  const ports = new Map<Kind, number>();
  const secsessChild = await ctx.child('secsess');
  // Full and resumed secsess clients share one server, as full and resumed TLS ones do.
  ports.set(
    'secsess',
    await secsessChild.request<number>({
      cmd: 'listen',
      kind: 'secsess',
      mode: 'echo',
      options: { tickets: true },
    }),
  );
  if (!tlsWhy) ports.set('tls', await ctx.port('tls', 'echo', 2048));
  ports.set('tcp', await ctx.port('tcp', 'echo'));
  const clients = await startChild(ctx.files);
  const rows: Row[] = [];
  const run: RunContext = { ctx, clients, ports, ms, reps };
  try {
    for (const concurrency of [1, 8]) {
      const samples = await sampleAll(run, variants, concurrency, 2048);
      const rate = rowOf(samples, `resume-${concurrency}`, 'hs/s', (s) => s.rate);
      rows.push(
        rate,
        rowOf(samples, `resume-${concurrency}-server-cpu`, 'µs/hs', (s) => s.serverCpu),
        rowOf(samples, `resume-${concurrency}-client-cpu`, 'µs/hs', (s) => s.clientCpu),
      );
      log(`  resume-${concurrency}: ${targets(rate)}`);
    }
    // RSA-3072 (secsess-keygen's default size): the RSA operation resumption saves is larger.
    const samples = await sampleAll(run, ['secsess', 'secsess-resumed'], 8, 3072);
    rows.push(
      rowOf(samples, 'resume-8-rsa3072', 'hs/s', (s) => s.rate),
      rowOf(samples, 'resume-8-rsa3072-server-cpu', 'µs/hs', (s) => s.serverCpu),
    );
  } finally {
    await clients.stop();
  }
  rows.push(...benchResumeCore({ quick: ctx.quick }));
  return rows;
}

interface RunContext {
  readonly ctx: NetContext;
  readonly clients: ChildHandle;
  readonly ports: ReadonlyMap<Kind, number>;
  readonly ms: number;
  readonly reps: number;
}

/** One variant's run: rate and CPU per connection on each side. */
async function measure(
  run: RunContext,
  variant: ResumeVariant,
  concurrency: number,
  bits: Bits,
  ms: number,
): Promise<Sample> {
  const server = await run.ctx.child(kindOf(variant));
  const before = await server.request<Stats>({ cmd: 'stats' });
  const port = run.ports.get(kindOf(variant))!;
  const result = await run.clients.request<ResumeLoadResult>({
    cmd: 'resume-load',
    variant,
    port,
    concurrency,
    ms,
    bits,
  });
  const after = await server.request<Stats>({ cmd: 'stats' });
  if (variant.endsWith('-resumed') && result.resumed !== result.count) {
    log(`  ${variant}-${concurrency}: only ${result.resumed} of ${result.count} connections resumed`);
  }
  return {
    rate: (result.count * 1000) / result.elapsedMs,
    serverCpu: (after.cpu - before.cpu) / result.count,
    clientCpu: result.clientCpu / result.count,
  };
}

/** Every variant once to warm up, then `reps` rounds of them all, interleaved. */
async function sampleAll(
  run: RunContext,
  variants: readonly ResumeVariant[],
  concurrency: number,
  bits: Bits,
): Promise<Map<ResumeVariant, Sample[]>> {
  for (const variant of variants) await measure(run, variant, concurrency, bits, Math.min(run.ms, 300));
  const samples = new Map<ResumeVariant, Sample[]>();
  for (let r = 0; r < run.reps; r++) {
    for (const variant of variants) {
      try {
        const sample = await measure(run, variant, concurrency, bits, run.ms);
        samples.set(variant, [...(samples.get(variant) ?? []), sample]);
      } catch (err) {
        log(`  ${variant}-${concurrency}: failed (${(err as Error).message})`);
      }
    }
  }
  return samples;
}

/** A row of the samples: the resumed secsess figure, every other variant measured as a peer. */
function rowOf(
  samples: ReadonlyMap<ResumeVariant, Sample[]>,
  scenario: string,
  unit: string,
  f: (s: Sample) => number,
): Row {
  const value = (v: ResumeVariant): number | null => medianOrNull((samples.get(v) ?? []).map(f));
  const peers: Record<string, number | null> = {};
  for (const v of RESUME_VARIANTS) {
    const name = PEER_NAME[v];
    if (name !== null && samples.has(v)) peers[name] = value(v);
  }
  return { scenario, unit, secsess: value('secsess-resumed'), peers };
}

/** The two ratios and whether they meet the target. */
function targets(rate: Row): string {
  const ratio = (peer: string, goal: number): string => {
    const v = rate.peers[peer];
    if (rate.secsess === null || v === null || v === undefined) return `resumed/${peer} n/a`;
    const x = rate.secsess / v;
    return `resumed/${peer} = ${x.toFixed(2)} (target ≥ ${goal}: ${x >= goal ? 'met' : 'NOT met'})`;
  };
  return `${ratio('full', 5)}, ${ratio('tls-resumed', 1)}`;
}
