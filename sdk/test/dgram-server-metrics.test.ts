/**
 * `DatagramServer.metrics()` over real UDP on 127.0.0.1: sessions, handshakes by outcome
 * and code, refusals by limit, the sessions' bytes and records (what both sides' counters
 * say), RSA work, the handshake-time histogram and the AEAD backends.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cryptoBackends, DatagramClient, ErrorCode } from '../src/index.js';
import type { DatagramSession } from '../src/index.js';
import { clientKeys, echoServer, nextMessage, otherKeys, serverKeys } from './helpers/dgram-net.js';
import { waitUntil } from './helpers/net.js';

async function roundTrip(session: DatagramSession, text: string): Promise<void> {
  const reply = nextMessage(session);
  session.send(text);
  await reply;
}

test('metrics count sessions, failed handshakes by code, refusals by limit, bytes and records both sides agree on', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-dgram-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const { server, endpoint, sessions } = await echoServer(t, '127.0.0.1', {
    authorizedKeys,
    maxSessions: 2,
    keepAliveInterval: 0,
  });
  const fresh = server.metrics();
  t.deepEqual(fresh.sessions, { open: 0, opened: 0, resumed: 0, closed: 0 });
  t.deepEqual(fresh.handshakes, { inProgress: 0, succeeded: 0, failed: 0, failedByCode: {}, probes: 0 });
  t.deepEqual(fresh.refused, {
    noListener: 0,
    maxSessions: 0,
    maxSessionsPerAddress: 0,
    maxHandshakes: 0,
    maxHandshakesPerAddress: 0,
    maxPendingDecrypts: 0,
    handshakeRate: 0,
  });
  t.deepEqual(fresh.bytes, { sent: 0, received: 0 });
  t.is(fresh.handshakeSeconds.count, 0);
  t.is(fresh.handshakeSeconds.counts.length, fresh.handshakeSeconds.buckets.length);
  t.deepEqual(fresh.crypto, { aead: cryptoBackends() });
  t.true(['@secsess/native', 'node:crypto'].includes(fresh.crypto.aead['aes-256-gcm']));

  // A client key not listed, then a pinned key the server does not hold: two failures.
  await t.throwsAsync(
    DatagramClient.create(serverKeys.publicKey, {}, { clientKey: otherKeys.privateKey }).connect(endpoint),
    { code: ErrorCode.NOT_AUTHORIZED },
  );
  await t.throwsAsync(DatagramClient.create(otherKeys.publicKey).connect(endpoint), {
    code: ErrorCode.SERVER_KEY_MISMATCH,
  });
  const client = DatagramClient.create(
    serverKeys.publicKey,
    {},
    { clientKey: clientKeys.privateKey, keepAliveInterval: 0 },
  );
  const a = await client.connect(endpoint);
  const b = await client.connect(endpoint);
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  for (let i = 0; i < 5; i++) await roundTrip(a, `a ${i}`);
  await roundTrip(b, 'b');
  // maxSessions: 2, both held: refused.
  await t.throwsAsync(
    DatagramClient.create(
      serverKeys.publicKey,
      {},
      { clientKey: clientKeys.privateKey, busyRetries: 0 },
    ).connect(endpoint),
    { code: ErrorCode.SERVER_BUSY },
  );

  await waitUntil(() => sessions.length === 2, 'the server has both sessions');
  const closed = once(sessions[0]!, 'close');
  a.close();
  await closed;
  const m = server.metrics();
  t.deepEqual(m.sessions, { open: 1, opened: 2, resumed: 0, closed: 1 });
  t.like(m.handshakes, { inProgress: 0, succeeded: 2, failed: 2, probes: 0 });
  t.deepEqual(m.handshakes.failedByCode, {
    [ErrorCode.NOT_AUTHORIZED]: 1,
    [ErrorCode.SERVER_KEY_MISMATCH]: 1,
  });
  t.is(m.refused.maxSessions, 1);
  t.is(
    Object.values(m.refused).reduce((x, y) => x + y, 0),
    1,
  );
  // What the server's sessions sent, the clients' received, and the other way round.
  const sent = a.counters.bytesSent + b.counters.bytesSent;
  const received = a.counters.bytesReceived + b.counters.bytesReceived;
  t.deepEqual(m.bytes, { sent: received, received: sent });
  t.deepEqual(m.records, {
    sent: a.counters.recordsReceived + b.counters.recordsReceived,
    received: a.counters.recordsSent + b.counters.recordsSent,
  });
  t.true(m.records.received >= 7, 'six messages and a Close at least');
  // Three decryptions (two sessions and the refused key's handshake), in the one worker.
  t.like(m.rsa, { queued: 0, decrypts: 3 });
  const h = m.handshakeSeconds;
  t.is(h.count, 2);
  t.true(h.sum > 0);
  t.is(h.counts.at(-1), 2, 'both within 10 s');
  for (let i = 1; i < h.counts.length; i++) t.true(h.counts[i]! >= h.counts[i - 1]!, 'cumulative');
  t.notThrows(() => JSON.stringify(m));
});
