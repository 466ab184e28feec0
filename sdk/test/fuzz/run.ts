/**
 * The long fuzzing mode: the cases of hostile-fuzz.test.ts and protocol-fuzz.test.ts, for
 * as long as asked.
 *
 *   npm run fuzz -- --minutes 30 [--seed N] [--concurrency 16] [--no-network] [--no-core]
 *
 * Two targets run in turns: the network target (mutated client streams over real sockets
 * to a live server in a child process, with a legitimate client checked between batches)
 * and the core targets (the same mutations into the sans-IO server and client, in
 * memory). It prints cases per second every 10 s, and every finding with what replays it;
 * it exits 1 if there was any finding, 0 otherwise.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { attackerAddress, legitClient, loopbackAliasesWork } from '../helpers/attackers.js';
import {
  coreClientCase,
  coreServerCase,
  netCase,
  newSeed,
  runNetCase,
  serverStreamMutations,
} from '../helpers/fuzz-targets.js';
import { mib, startServerProcess } from '../helpers/server-process.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    'no-network': { type: 'boolean', default: false },
    'no-core': { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const concurrency = Number(values.concurrency);
if (!(minutes > 0) || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: npm run fuzz -- --minutes N [--seed N] [--concurrency N] [--no-network] [--no-core]');
  process.exit(2);
}
const seed = values.seed === undefined ? newSeed() : Number(values.seed);
const HANDSHAKE_TIMEOUT = 500;
const HEAP_SLACK = 32 * 1024 * 1024;
const NET_BATCH = 64;
const CORE_BATCH = 400;

const findings: string[] = [];
function finding(what: string, batch: number): void {
  findings.push(what);
  console.log(`FINDING (seed ${seed}, batch ${batch}): ${what}`);
}

const aliases = await loopbackAliasesWork();
const server = values['no-network']
  ? null
  : await startServerProcess({
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      workers: 1,
      maxHandshakesPerAddress: aliases ? 8 : 64,
      // The fuzzed hellos must reach the RSA step and what follows, not the rate limit.
      handshakeRate: 0,
    });
const baseline = await server?.stats();
const started = Date.now();
const deadline = started + minutes * 60_000;
let netCases = 0;
let coreCases = 0;
let legitSessions = 0;
let serverFindings = 0;
let lastReport = started;
console.log(`fuzzing for ${minutes} min, seed ${seed}${aliases ? '' : ' (no loopback aliases)'}`);

try {
  for (let batch = 0; Date.now() < deadline; batch++) {
    if (server) {
      const cases = fc.sample(netCase, { numRuns: NET_BATCH, seed: seed + batch });
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (next < cases.length) {
            const c = cases[next++]!;
            const f = await runNetCase(server.port, c, {
              localAddress: aliases ? attackerAddress(worker % 4) : undefined,
              limitMs: HANDSHAKE_TIMEOUT + 15_000,
            });
            if (f) finding(f, batch);
            netCases++;
          }
        }),
      );
      try {
        await legitClient(server.endpoint, { id: batch, messages: 3, maxAttempts: 3 });
        legitSessions++;
      } catch (err) {
        finding(`a legitimate client failed: ${String(err)}`, batch);
      }
      if (batch % 20 === 0) {
        const stats = await server.stats();
        for (const f of stats.findings.slice(serverFindings)) finding(`server: ${f}`, batch);
        serverFindings = stats.findings.length;
        if (stats.established !== legitSessions) {
          finding(`${stats.established - legitSessions} fuzzed streams established a session`, batch);
        }
        if (stats.heapUsed > baseline!.heapUsed + HEAP_SLACK) {
          finding(`server heap grew from ${mib(baseline!.heapUsed)} to ${mib(stats.heapUsed)}`, batch);
        }
      }
    }
    if (!values['no-core']) {
      const cases = fc.sample(fc.tuple(netCase, fc.integer({ min: 1, max: 4096 }), serverStreamMutations), {
        numRuns: CORE_BATCH,
        seed: seed + batch,
      });
      for (const [c, chunk, ms] of cases) {
        const f = coreServerCase(c, chunk) ?? coreClientCase(ms, chunk);
        if (f) finding(f, batch);
        coreCases += 2;
      }
    }
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      const s = (Date.now() - started) / 1000;
      console.log(
        `${s.toFixed(0)} s: network ${netCases} cases (${(netCases / s).toFixed(0)}/s), ` +
          `core ${coreCases} cases (${(coreCases / s).toFixed(0)}/s), findings ${findings.length}`,
      );
    }
  }
  if (server) {
    const stats = await server.stop();
    for (const f of stats.findings.slice(serverFindings)) finding(`server: ${f}`, -1);
    console.log(
      `server: ${JSON.stringify(stats.handshakeErrors)}; refused ${JSON.stringify(stats.refused)}; ` +
        `heap ${mib(baseline!.heapUsed)} → ${mib(stats.heapUsed)}, rss ${mib(baseline!.rss)} → ${mib(stats.rss)}`,
    );
  }
} finally {
  server?.kill();
}
const s = (Date.now() - started) / 1000;
console.log(
  `done: ${netCases} network cases (${(netCases / s).toFixed(0)}/s), ${coreCases} core cases ` +
    `(${(coreCases / s).toFixed(0)}/s), ${legitSessions} legitimate sessions, ${findings.length} findings`,
);
if (findings.length > 0) {
  console.log(`replay with: npm run fuzz -- --seed ${seed} --minutes ${minutes}`);
  process.exitCode = 1;
}
