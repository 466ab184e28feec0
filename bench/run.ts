/**
 * npm run bench [-- --quick] [-- --json] [-- --only name,name]
 *
 * Runs every benchmark module and prints a table (or, with --json, one JSON document
 * `{ "results": [ { scenario, unit, secsess, peers } ] }` on stdout; progress on stderr).
 * Every scenario measures a peer in the same run; figures are medians of repetitions.
 */
import { availableParallelism, cpus } from 'node:os';
import { printTable } from './util.js';
import type { Row } from './util.js';

interface Suite {
  readonly name: string;
  readonly run: (options: { quick: boolean }) => Promise<Row[]>;
}

const SUITES: Suite[] = [
  { name: 'records', run: async (o) => (await import('./records.js')).benchRecords(o) },
  { name: 'latency', run: async (o) => (await import('./latency.js')).benchLatencyUnderHandshakes(o) },
  { name: 'keygen', run: async (o) => (await import('./keygen.js')).benchKeygen(o) },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const onlyArg = args.find((a, i) => args[i - 1] === '--only');
const only = onlyArg ? new Set(onlyArg.split(',')) : null;
const log = (line: string): void => void process.stderr.write(line + '\n');

log(
  `secsess bench: node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${quick ? 'quick' : 'full'} run`,
);
const results: Row[] = [];
let failed = false;
for (const suite of SUITES) {
  if (only && !only.has(suite.name)) continue;
  log(`• ${suite.name}…`);
  const t0 = Date.now();
  try {
    const rows = await suite.run({ quick });
    results.push(...rows);
    if (!json) printTable(rows);
  } catch (err) {
    failed = true;
    log(`  ${suite.name} failed: ${(err as Error).stack ?? String(err)}`);
  }
  log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
if (json) process.stdout.write(JSON.stringify({ results }, null, 2) + '\n');
if (failed) process.exitCode = 1;
