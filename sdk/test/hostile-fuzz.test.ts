/**
 * Network fuzzing, bounded for `npm test`: mutated valid client streams (four kinds of
 * handshake) and random bytes, sent over real sockets to a live server in a child process,
 * cut into random writes, ended or left open. The server must close every connection by
 * itself with a coded handshake error, never establish a session from a recording, keep
 * serving a legitimate client throughout, and keep its heap.
 *
 * The long mode runs the same cases for as long as asked: `npm run fuzz -- --minutes N`.
 * Replay a run with SECSESS_FUZZ_SEED=<seed printed in the log>.
 */
import test from 'ava';
import fc from 'fast-check';
import { attackerAddress, legitClient, loopbackAliasesWork } from './helpers/attackers.js';
import { netCase, newSeed, runNetCase } from './helpers/fuzz-targets.js';
import { mib, startServerProcess } from './helpers/server-process.js';

const CASES = 400;
const CONCURRENCY = 16;
const HANDSHAKE_TIMEOUT = 500;
const HEAP_SLACK = 16 * 1024 * 1024;

test('mutated and random client streams over real sockets: coded failures only, no session, bounded memory', async (t) => {
  const seed = process.env.SECSESS_FUZZ_SEED ? Number(process.env.SECSESS_FUZZ_SEED) : newSeed();
  t.log(`seed ${seed} (replay with SECSESS_FUZZ_SEED=${seed})`);
  const aliases = await loopbackAliasesWork();
  const server = await startServerProcess({
    handshakeTimeout: HANDSHAKE_TIMEOUT,
    workers: 1,
    // Without loopback aliases every attacker shares 127.0.0.1 with the legitimate client.
    maxHandshakesPerAddress: aliases ? 8 : 64,
    // The fuzzed hellos must reach the RSA step and what follows, not the rate limit.
    handshakeRate: 0,
  });
  t.teardown(() => server.kill());
  const before = await server.stats();

  const cases = fc.sample(netCase, { numRuns: CASES, seed });
  let done = false;
  let legitSessions = 0;
  let legitTimeouts = 0;
  const legit = (async () => {
    while (!done) {
      // A legitimate handshake slower than the fuzz server's short timeout (a loaded
      // machine) is told so (ERR_TIMEOUT) and tries again.
      const result = await legitClient(server.endpoint, { id: legitSessions, messages: 3, maxAttempts: 5 });
      legitTimeouts += result.retries.length;
      legitSessions++;
    }
  })();

  const findings: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const finding = await runNetCase(server.port, c, {
          localAddress: aliases ? attackerAddress(worker % 4) : undefined,
          limitMs: HANDSHAKE_TIMEOUT + 15_000,
        });
        if (finding) findings.push(finding);
      }
    }),
  );
  done = true;
  await legit;

  let after = await server.stats();
  for (let i = 0; i < 200 && after.handshakeCount > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await server.stats();
  }
  t.deepEqual(findings, []);
  t.deepEqual(after.findings, [], 'every handshake error had a code; nothing was thrown uncaught');
  t.is(after.established, legitSessions, 'no fuzzed stream established a session');
  t.true(legitSessions > 0);
  t.is(after.handshakeCount, 0);
  t.is(after.sessionCount, 0);
  const failed = Object.values(after.handshakeErrors).reduce((a, b) => a + b, 0);
  const refused = Object.values(after.refused).reduce((a, b) => a + b, 0);
  t.is(failed + refused, CASES + legitTimeouts, 'every case ended in a coded handshake error or a refusal');
  t.true(
    after.heapUsed < before.heapUsed + HEAP_SLACK,
    `heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  t.log(
    `${CASES} cases: ${JSON.stringify(after.handshakeErrors)}, refused ${JSON.stringify(after.refused)}; ` +
      `${legitSessions} legitimate sessions meanwhile; heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  await server.stop();
});
