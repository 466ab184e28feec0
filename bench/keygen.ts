/**
 * RSA key generation: `KeyPair.generateRSA` (node:crypto's asynchronous generator, one
 * libuv thread-pool job) beside `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:N`,
 * timed as a whole process, in the same run. Runs alternate between the two so that any
 * drift (thermal, other load) hits both; figures are medians, in milliseconds.
 *
 *   node --import=tsx --conditions=source bench/keygen.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KeyPair } from '@secsess/keys';
import type { RsaBits } from '@secsess/keys';
import { median, printTable } from './util.js';
import type { Row } from './util.js';

const SIZES: readonly RsaBits[] = [2048, 3072, 4096];

/** Milliseconds since `start` (a `process.hrtime.bigint()` reading). */
function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function timeSecsess(bits: RsaBits): Promise<number> {
  const start = process.hrtime.bigint();
  await KeyPair.generateRSA({ bits });
  return elapsedMs(start);
}

/** Time of one `openssl genpkey` process, from spawn to exit; the key goes to /dev/null. */
function timeOpenssl(bits: RsaBits): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(
      'openssl',
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-out', '/dev/null'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(elapsedMs(start));
      else reject(new Error(`openssl genpkey exited ${code}: ${stderr}`));
    });
  });
}

/**
 * Median key generation time for 2048, 3072 and 4096 bits, ours and openssl's.
 *
 * @param options.quick - 1 run per size instead of 7
 */
export async function benchKeygen(options: { quick: boolean }): Promise<Row[]> {
  const runs = options.quick ? 1 : 7;
  // Warm-up: the first generation also loads OpenSSL's RSA code paths in both.
  await timeSecsess(2048);
  await timeOpenssl(2048);
  const rows: Row[] = [];
  for (const bits of SIZES) {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let run = 0; run < runs; run++) {
      ours.push(await timeSecsess(bits));
      theirs.push(await timeOpenssl(bits));
    }
    rows.push({
      scenario: `keygen-${bits}`,
      unit: 'ms',
      secsess: median(ours),
      peers: { openssl: median(theirs) },
    });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTable(await benchKeygen({ quick: process.argv.includes('--quick') }));
}
