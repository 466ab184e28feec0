import test from 'ava';
import {
  CLOSE_NORMAL,
  Client,
  DEFAULT_BUSY_RETRIES,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  DEFAULT_SERVER_IDLE_TIMEOUT,
  ErrorCode,
  HandshakeError,
  Server,
} from '../src/index.js';
import type { RefusalLimit, RemoteInfo, SessionError } from '../src/index.js';
import { addressKey } from '../src/server/handshake-limiter.js';
import { resolveClientOptions } from '../src/client/client-options.js';
import { resolveServerOptions } from '../src/server/server-options.js';
import { resolveSessionOptions } from '../src/common/options.js';
import {
  SERVER_BUSY_ALERT,
  attackerAddress,
  legitClient,
  loopbackAliasesWork,
  outcome,
  rawFrom,
  sendHello,
  undecryptableHello,
  validHello,
} from './helpers/attackers.js';
import { fixtureKeys } from './helpers/keys.js';
import { fixturePrivateKey } from './helpers/protocol-pair.js';
import { echoSessions, startServer, waitUntil } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

/** Every 'refused' and 'handshakeError' event of a server, in order. */
function watch(server: Server): {
  refused: Array<[RefusalLimit, RemoteInfo]>;
  failed: SessionError[];
} {
  const seen = { refused: [] as Array<[RefusalLimit, RemoteInfo]>, failed: [] as SessionError[] };
  server.on('refused', (limit, remote) => seen.refused.push([limit, remote]));
  server.on('handshakeError', (err) => seen.failed.push(err));
  return seen;
}

test('a client turned away because every handshake slot is taken sees ERR_SERVER_BUSY', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  // Two connections past their hello (waiting for a Finished that never comes) hold both slots.
  const { server, endpoint, port } = await startServer({ maxHandshakes: 2, maxHandshakesPerAddress: 1 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  const base = validHello();
  const holders = await Promise.all([0, 1].map((n) => rawFrom(port, { localAddress: attackerAddress(n) })));
  await Promise.all(holders.map((h) => sendHello(h, undecryptableHello(base))));
  const client = Client.create(fixtureKeys().publicKey, {}, { busyRetries: 0 });
  const err = await t.throwsAsync(client.connect(endpoint), { instanceOf: HandshakeError });
  t.is(err?.code, ErrorCode.SERVER_BUSY);
  t.is(err?.message, 'handshake: server is busy; try again later');
  t.deepEqual(
    seen.refused.map(([limit]) => limit),
    ['maxHandshakes'],
  );
  t.is(seen.refused[0]![1].address, '127.0.0.1');
  t.deepEqual(seen.failed, [], 'a refusal is not also a handshakeError');
  // Once the holders go, the same client gets in.
  for (const h of holders) h.destroy();
  await waitUntil(() => server.handshakeCount === 0, 'the holders are gone');
  const result = await legitClient(endpoint);
  t.deepEqual(result.retries, []);
});

test('Client.connect() tries a busy server again and gets in once a slot frees; an abort stops it', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  const { server, endpoint, port } = await startServer({ maxHandshakes: 1, maxHandshakesPerAddress: 1 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const hold = async () => {
    const holder = await rawFrom(port, { localAddress: attackerAddress(0) });
    await sendHello(holder, undecryptableHello(validHello()));
    return holder;
  };
  const holder = await hold();
  const refused = new Promise((resolve) => server.once('refused', resolve));
  const connecting = Client.create(fixtureKeys().publicKey, {}, { busyRetries: 20 }).connect(endpoint);
  await refused;
  holder.destroy();
  const session = await connecting;
  await session.write('in');
  t.is((await session.read())?.toString(), 'in');
  await session.close();
  // Refused again, and aborted while waiting to retry.
  const second = await hold();
  t.teardown(() => second.destroy());
  const abort = new AbortController();
  const refusedAgain = new Promise((resolve) => server.once('refused', resolve));
  const aborted = Client.create(fixtureKeys().publicKey, {}, { busyRetries: 20 }).connect(endpoint, {
    signal: abort.signal,
  });
  await refusedAgain;
  abort.abort();
  await t.throwsAsync(aborted, { code: ErrorCode.ABORTED });
});

test('a new connection evicts the oldest silent handshake, never one past its hello', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  const { server, endpoint, port } = await startServer({ maxHandshakes: 3, maxHandshakesPerAddress: 3 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  const from = { localAddress: attackerAddress(0) };
  // One connection past its hello, then two silent ones: all three slots taken.
  const pastHello = await rawFrom(port, from);
  const pastHelloOutcome = outcome(pastHello);
  await sendHello(pastHello, undecryptableHello(validHello()));
  const silent = [await rawFrom(port, from), await rawFrom(port, from)];
  const silentOutcomes = silent.map(outcome);
  await waitUntil(() => server.handshakeCount === 3, 'three handshakes');
  // A legitimate client evicts the oldest silent one, and completes.
  const result = await legitClient(endpoint);
  t.deepEqual(result.retries, []);
  const first = await silentOutcomes[0]!;
  t.deepEqual(first.received, SERVER_BUSY_ALERT, 'the evicted connection was told the server is busy');
  t.deepEqual(
    seen.refused.map(([limit]) => limit),
    ['maxHandshakes'],
  );
  // The connection past its hello and the younger silent one are still there.
  t.is(server.handshakeCount, 2);
  t.false(pastHello.destroyed);
  t.false(silent[1]!.destroyed);
  pastHello.destroy();
  silent[1]!.destroy();
  await pastHelloOutcome;
  await silentOutcomes[1];
});

test('connections past maxHandshakesPerAddress evict the oldest silent ones of that address; other addresses are not touched', async (t) => {
  if (!(await loopbackAliasesWork())) return t.pass('this machine has no 127.0.0.0/8 aliases');
  const { server, endpoint, port } = await startServer({ maxHandshakes: 16, maxHandshakesPerAddress: 4 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  const attacker = attackerAddress(0);
  const sockets = await Promise.all(
    Array.from({ length: 10 }, () => rawFrom(port, { localAddress: attacker })),
  );
  const outcomes = sockets.map(outcome);
  // Six are evicted (the oldest: none has sent a hello), get the alert and are closed; four keep their slots.
  await waitUntil(() => seen.refused.length === 6, 'six refusals');
  t.true(
    seen.refused.every(
      ([limit, remote]) => limit === 'maxHandshakesPerAddress' && remote.address === attacker,
    ),
  );
  t.is(server.handshakeCount, 4);
  // A legitimate client from 127.0.0.1 is not affected.
  t.deepEqual((await legitClient(endpoint)).retries, []);
  for (const s of sockets) s.destroy();
  const results = await Promise.all(outcomes);
  const busy = results.filter((r) => r.received.equals(SERVER_BUSY_ALERT)).length;
  t.is(busy, 6);
  t.true(results.every((r) => r.received.length === 0 || r.received.equals(SERVER_BUSY_ALERT)));
});

test('a ClientHello that finds maxPendingDecrypts decryptions queued is refused before any RSA work', async (t) => {
  // RSA-4096 (several ms per decryption) on one worker: a burst of hellos queues up.
  const privateKey = fixturePrivateKey('server-4096');
  const big = { privateKey, publicKey: privateKey.publicKey };
  const { server, endpoint, port } = await startServer(
    { workers: 1, maxPendingDecrypts: 1, maxHandshakes: 64, maxHandshakesPerAddress: 64 },
    big,
  );
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  let maxPending = 0;
  const sample = (): void => void (maxPending = Math.max(maxPending, server.pendingDecrypts));
  server.on('refused', sample);
  server.on('handshakeError', sample);
  const base = validHello(big.publicKey);
  const sockets = await Promise.all(Array.from({ length: 24 }, () => rawFrom(port)));
  const outcomes = sockets.map(outcome);
  for (const s of sockets) s.end(undecryptableHello(base));
  const results = await Promise.all(outcomes);
  const refused = seen.refused.filter(([limit]) => limit === 'maxPendingDecrypts').length;
  t.true(refused > 0, 'some hellos were refused');
  t.is(results.filter((r) => r.received.equals(SERVER_BUSY_ALERT)).length, refused);
  t.true(maxPending <= 1, `at most 1 decryption queued, saw ${maxPending}`);
  // The others ran the RSA operation and failed at key confirmation (the client closed first).
  t.is(seen.failed.length, 24 - refused);
  t.true(seen.failed.every((e) => e.code === ErrorCode.HANDSHAKE));
  await waitUntil(() => server.pendingDecrypts === 0, 'the queue drained');
  const client = Client.create(big.publicKey);
  await client.connect(endpoint);
  await client.close();
  t.log(`${refused} of 24 hellos refused by maxPendingDecrypts`);
});

test('maxConnections counts established sessions too', async (t) => {
  const { server, endpoint, client: makeClient } = await startServer({ maxConnections: 2 });
  t.teardown(() => server.stop());
  echoSessions(server);
  const seen = watch(server);
  const a = makeClient();
  const b = makeClient();
  await a.connect(endpoint);
  await b.connect(endpoint);
  await waitUntil(() => server.sessionCount === 2, 'two sessions');
  await t.throwsAsync(makeClient({ busyRetries: 0 }).connect(endpoint), { code: ErrorCode.SERVER_BUSY });
  t.deepEqual(
    seen.refused.map(([limit]) => limit),
    ['maxConnections'],
  );
  await a.close();
  await waitUntil(() => server.sessionCount === 1, 'one session left');
  t.deepEqual((await legitClient(endpoint)).retries, []);
  await b.close();
});

test('a write that finds maxBufferedAmount bytes unsent fails the session with ERR_BUFFER_FULL', async (t) => {
  const { client, server, serverEnd } = await sessionPair({ maxBufferedAmount: 256 * 1024 });
  // The server stops reading: the client's writes pile up in its buffers.
  serverEnd.pause();
  const chunk = Buffer.alloc(64 * 1024);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 64 && client.state === 'open'; i++) writes.push(client.write(chunk));
  t.is(client.state, 'closed');
  t.true(writes.length < 64, `${writes.length} writes accepted before the cap`);
  const results = await Promise.allSettled(writes);
  const last = results.at(-1)!;
  t.is(last.status, 'rejected');
  const error = (last as PromiseRejectedResult).reason as SessionError;
  t.is(error.code, ErrorCode.BUFFER_FULL);
  t.regex(error.message, /^write buffer full: \d+ bytes not yet sent \(maxBufferedAmount 262144\)/);
  await t.throwsAsync(client.read(), { code: ErrorCode.BUFFER_FULL });
  void server;
});

test('a writer that waits for write() never reaches maxBufferedAmount', async (t) => {
  const { client, server } = await sessionPair({ maxBufferedAmount: 128 * 1024 });
  const reading = (async () => {
    let n = 0;
    for await (const m of server) n += m.length;
    return n;
  })();
  for (let i = 0; i < 200; i++) await client.write(Buffer.alloc(32 * 1024));
  await client.close();
  t.is(client.closeCode, CLOSE_NORMAL);
  t.is(await reading, 200 * 32 * 1024);
});

test('server limits have defaults and are validated up front', (t) => {
  const key = fixtureKeys().privateKey;
  t.is(DEFAULT_MAX_HANDSHAKES, 64);
  t.is(DEFAULT_MAX_HANDSHAKES_PER_ADDRESS, 16);
  t.is(DEFAULT_BUSY_RETRIES, 5);
  t.is(DEFAULT_MAX_PENDING_DECRYPTS, 64);
  t.is(DEFAULT_MAX_BUFFERED_AMOUNT, 16 * 1024 * 1024);
  t.is(DEFAULT_SERVER_IDLE_TIMEOUT, 300_000);
  const create = (options: object) => () => Server.create('127.0.0.1:0', key, undefined, options);
  t.throws(create({ maxHandshakes: 0 }), {
    instanceOf: RangeError,
    message: 'maxHandshakes must be from 1 to 1048576, got 0',
  });
  t.throws(create({ maxHandshakes: 1.5 }), {
    instanceOf: TypeError,
    message: 'maxHandshakes must be an integer',
  });
  t.throws(create({ maxHandshakesPerAddress: 9, maxHandshakes: 8 }), {
    instanceOf: TypeError,
    message: 'maxHandshakesPerAddress must not exceed maxHandshakes',
  });
  t.throws(create({ maxPendingDecrypts: 0 }), { instanceOf: RangeError });
  t.throws(create({ maxConnections: -1 }), { instanceOf: RangeError });
  t.throws(create({ maxBufferedAmount: '1' }), {
    instanceOf: TypeError,
    message: 'maxBufferedAmount must be an integer',
  });
  // A lone maxHandshakes below the per-address default lowers that default with it.
  t.notThrows(create({ maxHandshakes: 4 }));
});

test('addresses are counted per IPv4 address and per IPv6 /64', (t) => {
  t.is(addressKey('192.0.2.7'), '192.0.2.7');
  t.is(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  t.is(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:DB8:0001:0002:ffff::1'), '2001:db8:1:2::/64');
  t.is(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.is(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.is(addressKey('::1'), '0:0:0:0::/64');
  t.is(addressKey('::'), '0:0:0:0::/64');
  t.is(addressKey(undefined), '');
});

test("a server's sessions time out when idle by default (keepalive at half); clients' do not", (t) => {
  const server = resolveServerOptions({});
  t.is(server.idleTimeout, DEFAULT_SERVER_IDLE_TIMEOUT);
  t.is(server.keepAliveInterval, DEFAULT_SERVER_IDLE_TIMEOUT / 2);
  t.is(resolveServerOptions({ idleTimeout: 0 }).keepAliveInterval, 0);
  t.is(resolveClientOptions({}).idleTimeout, 0);
  t.is(resolveSessionOptions({}).idleTimeout, 0);
});
