/**
 * Event-loop time per hostile client-auth handshake: the figures SECURITY.md quotes for
 * issue 12, defect 2. Not a test (no pass/fail); run it on a quiet machine:
 *
 *   node --import=tsx --conditions=source sdk/test/measure/client-auth-event-loop.ts [N]
 *
 * A server (fixture key, RSA-2048, 2 workers, no authorization) runs in a child process;
 * this process makes N (default 100) sequential handshakes of each kind against it and the
 * child reports its main thread's `performance.eventLoopUtilization()` active time over
 * them (and the event-loop delay seen by `monitorEventLoopDelay`), divided by N:
 *
 * - a plain handshake (no client key): the baseline;
 * - a ClientFinished with a well-formed 2048-bit key (e = 65537) and a junk signature:
 *   verified (in the pool), refused;
 * - the issue's key: a 3072-bit modulus with a 3071-bit exponent and a junk 384-byte
 *   signature (~10 ms of RSA to verify; now refused before any RSA operation).
 *
 * `server.workerCounts` shows where the verifications ran.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Server } from '../../src/index.js';
import { forgedClientAuth, hugeExponentKey, junkSignature, spkiOf } from '../helpers/client-auth.js';
import { fixtureKeys } from '../helpers/keys.js';
import { loaderArgs } from '../helpers/server-process.js';

interface Report {
  readonly activeMs: number;
  readonly maxDelayMs: number;
  readonly p99DelayMs: number;
  readonly errors: Record<string, number>;
  readonly counts: unknown;
}

async function serve(): Promise<void> {
  // One host makes every handshake here: no per-source limit may refuse it (handshakeRate
  // is the per-source rate limit of issue 12, defect 4, where present; ignored elsewhere).
  const options = { workers: 2, maxHandshakesPerAddress: 64, handshakeRate: 0 };
  const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, options);
  const errors: Record<string, number> = {};
  server.on('handshakeError', (e) => (errors[e.code] = (errors[e.code] ?? 0) + 1));
  server.on('session', (s) => void s.close().catch(() => {}));
  await server.start();
  let elu = performance.eventLoopUtilization();
  let delay = monitorEventLoopDelay({ resolution: 1 });
  process.on('message', (m: string) => {
    if (m === 'start') {
      for (const k of Object.keys(errors)) delete errors[k];
      elu = performance.eventLoopUtilization();
      delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      process.send!('started');
    } else if (m === 'stop') {
      delay.disable();
      const report: Report = {
        activeMs: performance.eventLoopUtilization(elu).active,
        maxDelayMs: delay.max / 1e6,
        p99DelayMs: delay.percentile(99) / 1e6,
        errors: { ...errors },
        counts: server.workerCounts,
      };
      process.send!(report);
    } else if (m === 'exit') {
      void server.stop().then(() => process.exit(0));
    }
  });
  process.send!({ port: server.address!.port });
}

async function attack(n: number): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: loaderArgs(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = async <T>(m: string): Promise<T> => {
    const reply = once(child, 'message');
    child.send(m);
    return (await reply)[0] as T;
  };
  const { port } = (await once(child, 'message'))[0] as { port: number };
  const endpoint = `127.0.0.1:${port}`;
  const issueKey = junkSignature(spkiOf(hugeExponentKey(fixtureKeys('server-3072').publicKey, 3071)), 384);
  const verifiedKey = junkSignature(spkiOf(fixtureKeys('other-2048').publicKey), 256);
  const kinds: Array<[string, () => Promise<unknown>]> = [
    [
      'plain handshake (no client key)',
      async () => (await Client.create(fixtureKeys().publicKey).connect(endpoint)).close(),
    ],
    ['2048-bit key, e = 65537, junk signature', () => forgedClientAuth(port, verifiedKey)],
    ['3072-bit modulus, 3071-bit exponent, junk signature', () => forgedClientAuth(port, issueKey)],
  ];
  for (const [name, run] of kinds) {
    await run(); // warm-up
    await ask('start');
    for (let i = 0; i < n; i++) await run();
    const r = await ask<Report>('stop');
    console.log(
      `${name}: ${(r.activeMs / n).toFixed(2)} ms event-loop active per handshake; ` +
        `delay max ${r.maxDelayMs.toFixed(1)} ms, p99 ${r.p99DelayMs.toFixed(1)} ms; ` +
        `errors ${JSON.stringify(r.errors)}; worker counts ${JSON.stringify(r.counts)}`,
    );
  }
  await ask('exit').catch(() => {});
}

if (process.argv[2] === '--server') await serve();
else await attack(Number(process.argv[2] ?? 100));
