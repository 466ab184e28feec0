import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client, cryptoBackends, ErrorCode, probeServerKey, TicketStore } from '../src/index.js';
import type { ServerMetrics, Session, SessionError } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoSessions, startServer, waitUntil } from './helpers/net.js';
import { keys, roundTrip, ticketServer } from './helpers/resumption-net.js';

test('session.stats: each side counts what the other sees, handshake included; a frozen snapshot', async (t) => {
  const { server, client, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = new Promise<Session>((resolve) => server.once('session', resolve));
  echoSessions(server);
  const session = await client().connect(endpoint);
  const before = session.stats;
  t.true(Object.isFrozen(before));
  t.true(before.bytesSent > 0 && before.bytesReceived > 0, 'the handshake frames count');
  for (const word of ['one', 'two', 'three']) {
    await session.write(word);
    t.is((await session.read())?.toString(), word);
  }
  const during = session.stats;
  t.not(during, session.stats, 'a new object each read');
  t.true(during.recordsSent >= before.recordsSent + 3);
  t.true(during.recordsReceived >= before.recordsReceived + 3);
  const peer = await accepted;
  await session.close();
  await peer.closed;
  const c = session.stats;
  const s = peer.stats;
  t.is(c.bytesSent, s.bytesReceived);
  t.is(c.bytesReceived, s.bytesSent);
  t.is(c.recordsSent, s.recordsReceived);
  t.is(c.recordsReceived, s.recordsSent);
  t.deepEqual(Object.keys(c).sort(), ['bytesReceived', 'bytesSent', 'recordsReceived', 'recordsSent']);
  await waitUntil(() => server.sessionCount === 0, 'the server forgot the session');
});

test('server.metrics(): sessions, resumption, refusals, a failed handshake, a probe, bytes and the histogram', async (t) => {
  const { server, port } = await ticketServer({
    tickets: { keys: [randomBytes(32)] },
    workers: 1,
    maxConnections: 2,
  });
  t.teardown(() => server.stop());
  const empty = server.metrics();
  t.deepEqual(empty.sessions, { open: 0, opened: 0, resumed: 0, closed: 0 });
  t.deepEqual(empty.refused, {
    maxConnections: 0,
    maxHandshakes: 0,
    maxHandshakesPerAddress: 0,
    maxPendingDecrypts: 0,
    handshakeRate: 0,
  });
  t.deepEqual(
    empty.handshakeSeconds.buckets,
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  t.deepEqual(empty.handshakeSeconds.counts, new Array(13).fill(0));
  // The process's AEAD backends (sdk/test/aead-backends.test.ts tests the choice itself).
  t.deepEqual(empty.crypto, { aead: cryptoBackends() });
  t.true(['@secsess/native', 'node:crypto'].includes(empty.crypto.aead['aes-256-gcm']));
  t.true(
    ['@secsess/native', 'sodium-native', 'node:crypto'].includes(empty.crypto.aead['chacha20-poly1305']),
  );

  // A full handshake, then a resumed one (the ticket arrived with the first round trip).
  const store = new TicketStore();
  const connect = async (): Promise<Session> => {
    const session = await Client.create(keys.publicKey, {}, { resumption: store }).connect(
      `127.0.0.1:${port}`,
    );
    t.is(await roundTrip(session, 'hi'), 'hi');
    return session;
  };
  const full = await connect();
  const resumed = await connect();
  t.false(full.resumed);
  t.true(resumed.resumed);
  let m = server.metrics();
  t.deepEqual(m.sessions, { open: 2, opened: 2, resumed: 1, closed: 0 });
  t.is(m.handshakes.succeeded, 2);
  t.is(m.handshakes.inProgress, 0);
  t.is(m.rsa.decrypts, 1, 'one RSA decryption: the full handshake');
  t.is(m.rsa.queued, 0);
  checkHistogram(t, m, 2);

  // maxConnections: 2 is reached: the third connection is refused (the client retries: each
  // attempt is a refusal, as the 'refused' events say).
  let refusals = 0;
  server.on('refused', (limit) => {
    if (limit === 'maxConnections') refusals++;
  });
  const busy = await t.throwsAsync(Client.create(keys.publicKey).connect(`127.0.0.1:${port}`));
  t.is((busy as SessionError).code, ErrorCode.SERVER_BUSY);
  t.true(refusals >= 1);
  t.is(server.metrics().refused.maxConnections, refusals);

  // Both sessions end: their counts stay in the totals, and match what the clients saw.
  await full.close();
  await resumed.close();
  await waitUntil(() => server.metrics().sessions.closed === 2, 'both sessions are closed');
  m = server.metrics();
  t.is(m.sessions.open, 0);
  t.is(m.bytes.sent, full.stats.bytesReceived + resumed.stats.bytesReceived);
  t.is(m.bytes.received, full.stats.bytesSent + resumed.stats.bytesSent);
  t.is(m.records.sent, full.stats.recordsReceived + resumed.stats.recordsReceived);
  t.is(m.records.received, full.stats.recordsSent + resumed.stats.recordsSent);
  t.true(m.records.sent >= 4, 'ServerFinished, echoes, tickets, close');

  // A client that names a key the server does not hold: a failed handshake, by its code.
  const failure = new Promise<SessionError>((resolve) => server.once('handshakeError', resolve));
  await t.throwsAsync(Client.create(fixtureKeys('other-2048').publicKey).connect(`127.0.0.1:${port}`));
  const error = await failure;
  await waitUntil(() => server.metrics().handshakes.failed === 1, 'the failure is counted');
  m = server.metrics();
  t.deepEqual(m.handshakes.failedByCode, { [error.code]: 1 });
  t.true(
    m.bytes.received > full.stats.bytesSent + resumed.stats.bytesSent,
    "the failed handshake's bytes count",
  );

  // A key probe is neither a success nor a failure.
  await probeServerKey(`127.0.0.1:${port}`);
  await waitUntil(() => server.metrics().handshakes.probes === 1, 'the probe is counted');
  m = server.metrics();
  t.is(m.handshakes.failed, 1);
  t.is(m.handshakes.succeeded, 2);
  t.is(m.handshakes.inProgress, 0);
  t.deepEqual(m.refused, { ...empty.refused, maxConnections: refusals });
  checkHistogram(t, m, 2);
  // Plain data: JSON keeps every field.
  t.deepEqual(JSON.parse(JSON.stringify(m)), m);
});

test('server.metrics(): an authorization denial is a failed handshake with its code', async (t) => {
  const { server, port } = await ticketServer({
    authorize: () => false,
  });
  t.teardown(() => server.stop());
  const failure = new Promise<SessionError>((resolve) => server.once('handshakeError', resolve));
  await t.throwsAsync(async () => {
    const session = await Client.create(keys.publicKey).connect(`127.0.0.1:${port}`);
    await session.read();
  });
  const error = await failure;
  await waitUntil(() => server.metrics().handshakes.failed === 1, 'the denial is counted');
  const m = server.metrics();
  t.deepEqual(m.handshakes.failedByCode, { [error.code]: 1 });
  t.is(m.handshakes.succeeded, 0);
  t.is(m.sessions.opened, 0);
  t.true(m.bytes.sent > 0 && m.bytes.received > 0);
});

function checkHistogram(t: ExecutionContext, m: ServerMetrics, count: number): void {
  const h = m.handshakeSeconds;
  t.is(h.count, count);
  t.is(h.counts.length, h.buckets.length);
  for (let i = 1; i < h.counts.length; i++) t.true(h.counts[i]! >= h.counts[i - 1]!, 'cumulative');
  t.true(h.counts.at(-1)! <= count);
  t.true(h.sum > 0);
}
