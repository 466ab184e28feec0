/**
 * Admission before authentication, per source: the handshake rate limit (a token bucket
 * per IPv4 address / IPv6 /64 on the ClientHellos that reach RSA) and eviction at the
 * per-address cap (a flooder's silent connections cannot lock out a client behind the
 * same address). Real sockets; the floods run against a server in a child process.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import test from 'ava';
import {
  Client,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  ErrorCode,
  Server,
} from '../src/index.js';
import type { RefusalLimit, RemoteInfo } from '../src/index.js';
import { HandshakeRate } from '../src/server/handshake-rate.js';
import { resolveServerOptions } from '../src/server/server-options.js';
import {
  SERVER_BUSY_ALERT,
  attackerAddress,
  legitClient,
  loopbackAliasesWork,
  outcome,
  rawFrom,
  undecryptableHello,
  validHello,
} from './helpers/attackers.js';
import type { LegitResult, Outcome } from './helpers/attackers.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoSessions, startServer } from './helpers/net.js';
import { startServerProcess } from './helpers/server-process.js';

/** The first byte of a ServerHello frame: the server did the RSA decryption. */
const SERVER_HELLO = 0x04;

/** What the server answered a ClientHello with: its ServerHello (RSA done) or the busy alert. */
async function answerTo(socket: Socket, hello: Buffer): Promise<'hello' | 'busy' | 'other'> {
  const reply = once(socket, 'data') as Promise<[Buffer]>;
  const closed = once(socket, 'close').then(() => [Buffer.alloc(0)] as [Buffer]);
  socket.write(hello);
  const [data] = await Promise.race([reply, closed]);
  socket.destroy();
  if (data.subarray(0, SERVER_BUSY_ALERT.length).equals(SERVER_BUSY_ALERT)) return 'busy';
  return data[0] === SERVER_HELLO ? 'hello' : 'other';
}

function refusals(server: Server): Array<[RefusalLimit, RemoteInfo]> {
  const seen: Array<[RefusalLimit, RemoteInfo]> = [];
  server.on('refused', (limit, remote) => seen.push([limit, remote]));
  return seen;
}

test('a token bucket per source: a burst, then the rate; other sources are apart, an IPv6 /64 is one', (t) => {
  let now = 0;
  const rate = new HandshakeRate({ handshakeRate: 2, handshakeBurst: 3 }, 100, () => now);
  const takes = (address: string, n: number): boolean[] =>
    Array.from({ length: n }, () => rate.take(address));
  t.deepEqual(takes('192.0.2.1', 4), [true, true, true, false]);
  t.deepEqual(takes('192.0.2.2', 3), [true, true, true], 'another address has its own bucket');
  t.deepEqual(takes('::ffff:192.0.2.1', 1), [false], 'IPv4-mapped is the same address');
  now += 499;
  t.deepEqual(takes('192.0.2.1', 1), [false], 'not yet a whole token');
  t.false(rate.allows('192.0.2.1'), 'a connection from it is refused at accept');
  t.true(rate.allows('192.0.2.3'), 'an unknown address is allowed');
  now += 1;
  t.true(rate.allows('192.0.2.1'));
  t.true(rate.allows('192.0.2.1'), 'allows() takes nothing');
  t.deepEqual(takes('192.0.2.1', 2), [true, false], 'one token per 1/rate seconds');
  now += 60_000;
  t.deepEqual(takes('192.0.2.1', 4), [true, true, true, false], 'refills to the burst, not beyond');
  t.deepEqual(takes('2001:db8:1:2::1', 3), [true, true, true]);
  t.deepEqual(takes('2001:db8:1:2:ffff::9', 1), [false], 'the same /64');
  t.deepEqual(takes('2001:db8:1:3::1', 1), [true], 'another /64');
  const off = new HandshakeRate({ handshakeRate: 0, handshakeBurst: 1 }, 100, () => now);
  t.false(off.enabled);
  t.true(Array.from({ length: 100 }, () => off.take('192.0.2.1')).every(Boolean), 'rate 0: no limit');
});

test('the table of buckets stays bounded under a flood of sources, and drops refilled buckets', (t) => {
  let now = 0;
  const rate = new HandshakeRate({ handshakeRate: 10, handshakeBurst: 2 }, 64, () => now);
  for (let i = 0; i < 10_000; i++) {
    rate.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    t.true(rate.size <= 64);
  }
  t.is(rate.size, 64);
  // A source that is over its rate stays over it while others come and go below the cap.
  t.true(rate.take('192.0.2.1'));
  t.true(rate.take('192.0.2.1'));
  t.false(rate.take('192.0.2.1'));
  for (let i = 0; i < 30; i++) rate.take(`198.51.100.${i}`);
  t.false(rate.take('192.0.2.1'));
  // Once they have all refilled, each call drops some: a quiet server forgets its sources.
  now += 10_000;
  for (let i = 0; i < 40; i++) rate.take('203.0.113.1');
  t.true(rate.size < 64, `${rate.size} buckets left`);
});

test('handshakeRate and handshakeBurst: defaults and validation', (t) => {
  const resolved = resolveServerOptions({});
  t.is(resolved.handshakeRate, DEFAULT_HANDSHAKE_RATE);
  t.is(resolved.handshakeBurst, DEFAULT_HANDSHAKE_BURST);
  t.is(resolveServerOptions({ handshakeRate: 0 }).handshakeRate, 0);
  const create = (options: object) => () =>
    Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, options);
  t.throws(create({ handshakeRate: -1 }), {
    instanceOf: RangeError,
    message: 'handshakeRate must be from 0 to 1048576, got -1',
  });
  t.throws(create({ handshakeRate: 1.5 }), {
    instanceOf: TypeError,
    message: 'handshakeRate must be an integer',
  });
  t.throws(create({ handshakeBurst: 0 }), {
    instanceOf: RangeError,
    message: 'handshakeBurst must be from 1 to 1048576, got 0',
  });
});

test('hellos over a source rate get ServerBusy before any RSA work (RSA on the main thread too)', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  // startServer: workers 0. A rate of 1/s with a burst of 2; the test takes well under
  // the 1 s a new token needs only if the machine is quick, so count what is allowed.
  const { server, port } = await startServer({ handshakeRate: 1, handshakeBurst: 2 });
  t.teardown(() => server.stop());
  const seen = refusals(server);
  const attacker = attackerAddress(0);
  const started = performance.now();
  const answers: string[] = [];
  for (let i = 0; i < 6; i++) {
    answers.push(await answerTo(await rawFrom(port, { localAddress: attacker }), validHello()));
  }
  const seconds = (performance.now() - started) / 1000;
  const hellos = answers.filter((a) => a === 'hello').length;
  t.true(
    answers.every((a) => a === 'hello' || a === 'busy'),
    answers.join(),
  );
  t.true(hellos >= 2, 'the burst');
  t.true(hellos <= 2 + Math.ceil(seconds), `${hellos} decryptions in ${seconds.toFixed(2)} s`);
  const rate = seen.filter(([limit]) => limit === 'handshakeRate');
  t.is(rate.length, 6 - hellos, 'every refusal reported as handshakeRate');
  t.true(rate.every(([, remote]) => remote.address === attacker));
  // Another source is not touched by the first one's rate.
  t.is(await answerTo(await rawFrom(port, { localAddress: attackerAddress(1) }), validHello()), 'hello');
});

test('a host replaying ClientHellos on many connections: RSA work bounded by the rate; another source connects meanwhile', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  // The shipped limits (the defaults) are the ones under test.
  const server = await startServerProcess({ workers: 2 });
  t.teardown(() => server.kill());
  const attacker = attackerAddress(0);
  const hello = validHello();
  const CONCURRENCY = 8;
  const MIN_ATTEMPTS = 400;
  const MAX_ATTEMPTS = 20_000;
  const counts = { hello: 0, busy: 0, other: 0 };
  let attempts = 0;
  let legitDone = false;
  let started: () => void = () => {};
  const flooding = new Promise<void>((resolve) => (started = resolve));
  const begun = performance.now();
  const worker = async (): Promise<void> => {
    while (attempts < MAX_ATTEMPTS && !(legitDone && attempts >= MIN_ATTEMPTS)) {
      attempts++;
      const answer = await answerTo(await rawFrom(server.port, { localAddress: attacker }), hello);
      counts[answer]++;
      // Started: the attacker is past its burst (or, without a rate limit, well under way).
      if (answer === 'busy' || attempts >= MIN_ATTEMPTS / 4) started();
    }
  };
  const attack = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // While the flood runs, a legitimate client from another source address (127.0.0.1)
  // connects, echoes and closes without once being refused.
  await Promise.race([flooding, attack]);
  let legit: LegitResult;
  try {
    legit = await legitClient(server.endpoint, { messages: 5, client: { busyRetries: 0 } });
  } finally {
    legitDone = true;
  }
  await attack;
  const seconds = (performance.now() - begun) / 1000;
  const stats = await server.stop();
  t.deepEqual(stats.findings, []);
  t.deepEqual(
    legit.retries.filter((r) => r === 'ERR_SERVER_BUSY'),
    [],
    'the other source was never refused',
  );
  t.is(counts.other, 0, JSON.stringify(counts));
  // Every ServerHello is one RSA decryption: at most the burst plus the rate over the
  // time the flood took (plus one token of rounding).
  const bound = DEFAULT_HANDSHAKE_BURST + DEFAULT_HANDSHAKE_RATE * seconds + 1;
  t.true(
    counts.hello <= bound,
    `${counts.hello} RSA decryptions forced in ${seconds.toFixed(2)} s (bound ${bound.toFixed(0)})`,
  );
  t.true(counts.busy > 0);
  // The server counted each refusal: the rate limit for all but a few per-address ones.
  const refused = stats.refused;
  t.is(
    (refused.handshakeRate ?? 0) + (refused.maxHandshakesPerAddress ?? 0),
    counts.busy,
    JSON.stringify(refused),
  );
  t.true((refused.handshakeRate ?? 0) > 0);
  t.log(
    `${attempts} hellos from one host in ${seconds.toFixed(2)} s: ${counts.hello} decrypted ` +
      `(${(counts.hello / seconds).toFixed(1)}/s), ${counts.busy} refused (${JSON.stringify(refused)})`,
  );
});

test('silent connections from one address past maxHandshakesPerAddress: a real client from that address still gets in', async (t) => {
  const server = await startServerProcess({ handshakeTimeout: 60_000 });
  t.teardown(() => server.kill());
  const cap = DEFAULT_MAX_HANDSHAKES_PER_ADDRESS;
  const SILENT = cap + 24;
  // From 127.0.0.1, the address the client connects from.
  const silent: Socket[] = [];
  const outcomes: Array<Promise<Outcome>> = [];
  for (let i = 0; i < SILENT; i++) {
    const socket = await rawFrom(server.port);
    silent.push(socket);
    outcomes.push(outcome(socket));
  }
  t.teardown(() => silent.forEach((s) => s.destroy()));
  for (let i = 0; i < 500; i++) {
    const stats = await server.stats();
    if ((stats.refused.maxHandshakesPerAddress ?? 0) >= SILENT - cap) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const client = Client.create(fixtureKeys().publicKey, {}, { busyRetries: 0 });
  const session = await client.connect(server.endpoint);
  await session.write('behind the same address');
  t.is((await session.read())?.toString(), 'behind the same address');
  await session.close();
  t.is(session.closeCode, 1000);
  // The client evicted the oldest silent connection left; each evicted one was told busy.
  const evicted = SILENT - cap + 1;
  const stats = await server.stats();
  t.is(stats.refused.maxHandshakesPerAddress, evicted, JSON.stringify(stats.refused));
  t.is(stats.established, 1);
  t.is(stats.handshakeCount, cap - 1, 'the youngest silent ones keep their slots');
  for (const o of await Promise.all(outcomes.slice(0, evicted))) {
    t.deepEqual(o.received, SERVER_BUSY_ALERT);
  }
  t.true(silent.slice(evicted).every((s) => !s.destroyed));
  t.deepEqual((await server.stop()).findings, []);
});

test('at the per-address cap, connections past their hello are never evicted: the newcomer is refused', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  const { server, endpoint, port } = await startServer({ maxHandshakes: 8, maxHandshakesPerAddress: 2 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = refusals(server);
  const from = { localAddress: attackerAddress(0) };
  const base = validHello();
  const held: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = await rawFrom(port, from);
    held.push(socket);
    const replied = once(socket, 'data');
    socket.write(undecryptableHello(base));
    await replied;
  }
  t.teardown(() => held.forEach((s) => s.destroy()));
  const newcomer = await rawFrom(port, from);
  const result = await outcome(newcomer);
  t.deepEqual(result.received, SERVER_BUSY_ALERT);
  t.deepEqual(
    seen.map(([limit]) => limit),
    ['maxHandshakesPerAddress'],
  );
  t.true(held.every((s) => !s.destroyed));
  t.is(server.handshakeCount, 2);
  // Another address is not affected.
  t.deepEqual((await legitClient(endpoint)).retries, []);
});

test('a client refused for its rate sees ERR_SERVER_BUSY, and Client.connect gets in after its backoff', async (t) => {
  const { server, endpoint } = await startServer({ handshakeRate: 1, handshakeBurst: 1 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = refusals(server);
  const connect = (busyRetries: number) =>
    Client.create(fixtureKeys().publicKey, {}, { busyRetries }).connect(endpoint);
  await (await connect(0)).close();
  // The bucket is empty: the next connect is refused at its hello (a token comes once a
  // second); back to back, one of a few attempts meets the empty bucket.
  let refusal: unknown = null;
  for (let i = 0; i < 5 && refusal === null; i++) {
    try {
      await (await connect(0)).close();
    } catch (err) {
      refusal = err;
    }
  }
  t.like(refusal, { code: ErrorCode.SERVER_BUSY, message: 'handshake: server is busy; try again later' });
  // With its retries (pauses of up to 50, 100, 200, 400, 800, 1000… ms) a client gets in.
  const session = await connect(20);
  await session.write('again');
  t.is((await session.read())?.toString(), 'again');
  await session.close();
  t.true(seen.length > 0);
  t.true(seen.every(([limit, remote]) => limit === 'handshakeRate' && remote.address === '127.0.0.1'));
});
