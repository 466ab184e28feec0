/**
 * A real redis-server behind the `secsess` tunnel: redis-cli SET/GET, redis-benchmark (small
 * -n, 16 clients, -P 1 and -P 16) whose requests all reach the server (its INFO counters say
 * so), and the same tunnel over IPv6 loopback ([::1] at every hop).
 */
import test from 'ava';
import {
  assertSecsessBuilt,
  connLines,
  hasIpv6Loopback,
  realTest,
  started,
  tunnelFiles,
} from './helpers/real-test.js';
import { programPath, runProgram } from './helpers/programs.js';
import { startConnect, startServe } from './helpers/secsess-bin.js';
import { address, startRedis } from './helpers/services.js';

test.before(() => assertSecsessBuilt());

const REDIS = ['redis-server', 'redis-cli', 'redis-benchmark'];
const real = realTest(REDIS, true);
const real6 = realTest(REDIS, true, hasIpv6Loopback() ? [] : ['IPv6 loopback (::1)']);

async function redisCli(host: string, port: number, ...args: string[]): Promise<string> {
  const r = await runProgram(programPath('redis-cli'), ['-h', host, '-p', String(port), ...args], {
    timeoutMs: 60_000,
  });
  if (r.exit.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.output}`);
  return r.stdout;
}

/** keyspace_hits + keyspace_misses, read from redis itself (not through the tunnel). */
async function lookups(port: number): Promise<number> {
  const info = await redisCli('127.0.0.1', port, 'INFO', 'stats');
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
  return field('keyspace_hits') + field('keyspace_misses');
}

real('redis-cli SET and GET a value through connect → serve', async (t) => {
  const { keys } = await tunnelFiles(t);
  const redis = await started(t, startRedis());
  const serve = await started(t, startServe(keys, address(redis)));
  const connect = await started(t, startConnect(keys, serve.address));
  const value = 'a value sent through secsess \u00e9\u00e8';
  t.is(await redisCli('127.0.0.1', connect.port, 'SET', 'tunnel:key', value), 'OK\n');
  t.is(await redisCli('127.0.0.1', connect.port, 'GET', 'tunnel:key'), `${value}\n`);
  t.is(
    await redisCli('127.0.0.1', redis.port, 'GET', 'tunnel:key'),
    `${value}\n`,
    'it is in the real server',
  );
  const lines = await connLines(serve, 2);
  t.deepEqual(
    lines.map((l) => l['close']),
    [1000, 1000],
  );
});

real(
  'redis-benchmark with 16 clients, -P 1 and -P 16, gets every GET answered through the tunnel',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const redis = await started(t, startRedis());
    const serve = await started(t, startServe(keys, address(redis)));
    const connect = await started(t, startConnect(keys, serve.address));
    const n = 2000;
    for (const pipeline of ['1', '16']) {
      const before = await lookups(redis.port);
      const args = ['-h', '127.0.0.1', '-p', String(connect.port), '-t', 'get', '-c', '16', '-n', String(n)];
      const r = await runProgram(programPath('redis-benchmark'), [...args, '-P', pipeline, '--csv'], {
        timeoutMs: 120_000,
      });
      t.is(r.exit.code, 0, r.output);
      const line = r.output.split('\n').find((l) => l.startsWith('"GET"'));
      t.truthy(line, r.output);
      t.true(Number(line!.split(',')[1]!.replaceAll('"', '')) > 0, line);
      t.true((await lookups(redis.port)) - before >= n, 'every GET reached redis-server');
    }
    // 16 sessions per run (and the CONFIG GET connection redis-benchmark opens first), each
    // closed normally: every conn line is out once serve has stopped (SIGTERM, nothing to drain).
    await connect.stop();
    t.deepEqual(await serve.stop(), { code: 0, signal: null }, serve.output());
    const lines = serve.events().filter((e) => e.event === 'conn');
    t.true(lines.length >= 32, `${lines.length} sessions`);
    t.deepEqual(
      lines.filter((l) => l['close'] !== 1000),
      [],
    );
  },
);

real6(
  'the tunnel over IPv6 loopback: [::1] redis, serve and connect; redis-cli -h ::1 SET/GET',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const redis = await started(t, startRedis('::1'));
    const serve = await started(t, startServe(keys, address(redis), [], '[::1]:0'));
    const connect = await started(t, startConnect(keys, serve.address, undefined, '[::1]:0'));
    t.is(serve.host, '::1');
    t.is(connect.host, '::1');
    t.regex(serve.address, /^\[::1\]:\d+$/);
    t.is(await redisCli('::1', connect.port, 'SET', 'six', 'over v6'), 'OK\n');
    t.is(await redisCli('::1', connect.port, 'GET', 'six'), 'over v6\n');
    const [served] = await connLines(serve, 1);
    const [connected] = await connLines(connect, 1);
    t.regex(String(served!['peer']), /^\[::1\]:\d+$/, 'serve saw the secsess client on ::1');
    t.regex(String(connected!['peer']), /^\[::1\]:\d+$/, 'connect saw redis-cli on ::1');
    t.like(served, { close: 1000 });
  },
);
