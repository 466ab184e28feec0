/**
 * What a DatagramServer spends on strangers (PROTOCOL.md §D2, §D3, §D8, §D10 item 2):
 * cookie-less and bad-cookie handshake packets from many sources cost no RSA and no state
 * and are answered only with 33-byte Cookies; the per-source rate and the caps refuse with
 * a 19-byte ServerBusy before any RSA; client authentication and authorization.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramClient, DatagramServer, ErrorCode } from '../src/index.js';
import type { DatagramRefusalLimit, PeerInfo, SessionError } from '../src/index.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import { ALERT_PACKET_SIZE, COOKIE_PACKET_SIZE, PacketType } from '../src/protocol/datagram/constants.js';
import {
  decodeHelloPacket,
  decodeKeyRequestPacket,
  encodeHelloPacket,
  encodeKeyRequestPacket,
} from '../src/protocol/datagram/packets.js';
import {
  clientKeys,
  echoServer,
  handshakeUntilServerHello,
  nextMessage,
  rawPeer,
  serverKeys,
} from './helpers/dgram-net.js';
import { ipv6Available, waitUntil } from './helpers/net.js';

/** A real Hello packet without a cookie (what a client sends first), and its KeyRequest twin. */
function helloPacket(): Buffer {
  return new DatagramClientHandshake({ serverKey: serverKeys.publicKey }).start(performance.now());
}
function keyRequestPacket(): Buffer {
  return new DatagramClientHandshake({}).start(performance.now());
}

/** The same packet with `cookie` in place of whatever it carried. */
function withCookie(packet: Buffer, cookie: Buffer | null): Buffer {
  if (packet[0] === PacketType.Hello) {
    const d = decodeHelloPacket(packet)!;
    return encodeHelloPacket(Buffer.from(d.token), cookie, Buffer.from(d.frame));
  }
  const d = decodeKeyRequestPacket(packet)!;
  return encodeKeyRequestPacket(Buffer.from(d.token), cookie, Buffer.from(d.frame));
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-dgram-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a flood of cookie-less and bad-cookie hellos from many sources costs no RSA and no state, and every answer is a Cookie smaller than its request', async (t) => {
  const { server, endpoint } = await echoServer(t, '127.0.0.1', { workers: 1 });
  const to = { host: '127.0.0.1', port: server.address!.port };
  // 40 sources: 127.0.0.1–127.0.0.4 (Linux routes all of 127/8 to lo), ten ports each.
  const sources = [];
  for (let a = 1; a <= 4; a++) {
    for (let i = 0; i < 10; i++) sources.push(await rawPeer(t, to, `127.0.0.${a}`));
  }
  // A cookie that is valid — for another source: it must not open the door for these.
  const donor = await rawPeer(t, to);
  await donor.send(helloPacket());
  const donated = (await donor.answer())!;
  t.is(donated[0], PacketType.Cookie);
  const stolen = donated.subarray(1 + 16);
  const sent: Buffer[][] = sources.map(() => []);
  for (const [i, peer] of sources.entries()) {
    const packets = [
      helloPacket(),
      withCookie(helloPacket(), randomBytes(16)),
      withCookie(helloPacket(), Buffer.from(stolen)),
      keyRequestPacket(),
      withCookie(keyRequestPacket(), randomBytes(16)),
    ];
    // One at a time, each after the previous answer: the server's socket buffer is not
    // what this test measures, and a lost datagram would only make it flaky.
    for (const [j, p] of packets.entries()) {
      sent[i]!.push(p);
      await peer.send(p);
      t.not(await peer.answer(j + 1), null);
    }
  }
  for (const [i, peer] of sources.entries()) {
    t.is(peer.received.length, 5);
    for (const [j, reply] of peer.received.entries()) {
      t.is(reply[0], PacketType.Cookie);
      t.is(reply.length, COOKIE_PACKET_SIZE);
      t.true(reply.length < sent[i]![j]!.length);
    }
  }
  t.is(server.counters.decrypts, 0);
  t.is(server.workerCounts.decrypts, 0);
  t.is(server.handshakeCount, 0);
  t.is(server.counters.cookies, 1 + 5 * sources.length);
  // The server still serves a real client, which costs exactly one decryption.
  const session = await DatagramClient.create(serverKeys.publicKey).connect(endpoint);
  const echoed = nextMessage(session);
  session.send('still here');
  t.is(String(await echoed), 'still here');
  session.close();
  t.is(server.counters.decrypts, 1);
  t.is(server.workerCounts.decrypts, 1);
});

test('garbage, client-bound packet types and records of no session are dropped unanswered', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { workers: 0 });
  const peer = await rawPeer(t, { host: '127.0.0.1', port: server.address!.port });
  const junk = [
    Buffer.alloc(0),
    Buffer.of(0x00),
    randomBytes(300),
    Buffer.concat([Buffer.of(PacketType.ServerHello), randomBytes(200)]),
    Buffer.concat([Buffer.of(PacketType.Cookie), randomBytes(32)]),
    Buffer.concat([Buffer.of(PacketType.Record), randomBytes(80)]),
    Buffer.concat([Buffer.of(PacketType.Hello), randomBytes(400)]),
    helloPacket().subarray(0, 200),
  ];
  for (const p of junk) await peer.send(p);
  // A real hello afterwards gets its Cookie: everything before it was read and dropped.
  await peer.send(helloPacket());
  const reply = await peer.answer(1);
  t.is(reply?.[0], PacketType.Cookie);
  t.is(peer.received.length, 1);
  await waitUntil(() => server.counters.packets === junk.length + 1, 'every packet was read');
  t.is(server.counters.dropped, junk.length);
  t.is(server.counters.decrypts, 0);
});

test('a source over its handshakeRate is refused with a 19-byte ServerBusy before any RSA', async (t) => {
  const { server, endpoint } = await echoServer(t, '127.0.0.1', { handshakeRate: 1, handshakeBurst: 1 });
  const refused: DatagramRefusalLimit[] = [];
  server.on('refused', (limit) => refused.push(limit));
  const client = DatagramClient.create(serverKeys.publicKey, {}, { busyRetries: 0 });
  // Six handshakes at once from one address; its bucket holds one token (plus one a second).
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => client.connect(endpoint)));
  const opened = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.true(opened.length >= 1);
  t.true(failed.length >= 1);
  for (const f of failed) t.is((f.reason as SessionError).code, ErrorCode.SERVER_BUSY);
  // Each failed client was refused at least once; a loaded machine may see a client
  // retransmit its hello before the ServerBusy arrives, and that copy is refused too.
  t.true(refused.length >= failed.length);
  t.true(refused.every((l) => l === 'handshakeRate'));
  t.is(server.counters.decrypts, opened.length);
  for (const r of opened) (r as PromiseFulfilledResult<{ close(): void }>).value.close();
});

test('the raw ServerBusy answer is an Alert packet of 19 bytes, smaller than the Hello', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { maxHandshakes: 1, handshakeTimeout: 60_000 });
  const to = { host: '127.0.0.1', port: server.address!.port };
  const holder = await rawPeer(t, to);
  await handshakeUntilServerHello(holder);
  t.is(server.handshakeCount, 1);
  const refused = once(server, 'refused');
  // From another address: the global cap refuses it, not the per-address one.
  const late = await rawPeer(t, to, '127.0.0.2');
  const err = await t.throwsAsync(handshakeUntilServerHello(late), { code: ErrorCode.SERVER_BUSY });
  t.truthy(err);
  const [limit] = (await refused) as [DatagramRefusalLimit];
  t.is(limit, 'maxHandshakes');
  const busy = late.received[late.received.length - 1]!;
  t.is(busy[0], PacketType.Alert);
  t.is(busy.length, ALERT_PACKET_SIZE);
  t.is(server.counters.decrypts, 1);
});

test('maxHandshakesPerAddress refuses one address while another still gets in', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', {
    maxHandshakesPerAddress: 1,
    handshakeTimeout: 60_000,
  });
  const to = { host: '127.0.0.1', port: server.address!.port };
  await handshakeUntilServerHello(await rawPeer(t, to, '127.0.0.1'));
  await t.throwsAsync(handshakeUntilServerHello(await rawPeer(t, to, '127.0.0.1')), {
    code: ErrorCode.SERVER_BUSY,
  });
  const other = await handshakeUntilServerHello(await rawPeer(t, to, '127.0.0.2'));
  t.is(other.kind, 'open');
  t.is(server.handshakeCount, 2);
});

test('a handshake that never sends its ClientFinished is dropped after handshakeTimeout, freeing its slot', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { maxHandshakes: 1, handshakeTimeout: 300 });
  const to = { host: '127.0.0.1', port: server.address!.port };
  await handshakeUntilServerHello(await rawPeer(t, to));
  t.is(server.handshakeCount, 1);
  await waitUntil(() => server.handshakeCount === 0, 'the handshake timed out');
  t.is(server.counters.handshakeTimeouts, 1);
  const next = await handshakeUntilServerHello(await rawPeer(t, to));
  t.is(next.kind, 'open');
});

test('maxSessions refuses a handshake once that many sessions are open', async (t) => {
  const { server, endpoint } = await echoServer(t, '127.0.0.1', { maxSessions: 1 });
  const client = DatagramClient.create(serverKeys.publicKey, {}, { busyRetries: 0 });
  const first = await client.connect(endpoint);
  await waitUntil(() => server.sessionCount === 1, 'the server holds the session');
  const refused = once(server, 'refused');
  await t.throwsAsync(client.connect(endpoint), { code: ErrorCode.SERVER_BUSY });
  t.is(((await refused) as [DatagramRefusalLimit])[0], 'maxSessions');
  // Closing the first frees the place.
  first.close();
  await waitUntil(() => server.sessionCount === 0, 'the session is gone');
  const second = await client.connect(endpoint);
  second.close();
  t.pass();
});

test('maxSessionsPerAddress: one source cannot take every place; another source still gets in', async (t) => {
  const server = DatagramServer.create('[::]:0', serverKeys.privateKey, undefined, {
    workers: 0,
    maxSessionsPerAddress: 1,
  });
  server.on('session', () => {});
  server.on('handshakeError', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  const client = DatagramClient.create(serverKeys.publicKey, {}, { busyRetries: 0 });
  const first = await client.connect(`127.0.0.1:${port}`);
  await waitUntil(() => server.sessionCount === 1, 'the server holds the session');
  const refused = once(server, 'refused');
  await t.throwsAsync(client.connect(`127.0.0.1:${port}`), { code: ErrorCode.SERVER_BUSY });
  t.is(((await refused) as [DatagramRefusalLimit])[0], 'maxSessionsPerAddress');
  t.is(server.counters.decrypts, 1, 'refused before any RSA');
  if (await ipv6Available()) {
    const other = await client.connect(`[::1]:${port}`); // another source: its own count
    t.is(server.sessionCount, 2);
    other.close();
  }
  // The source's place comes back when its session ends.
  first.close();
  await waitUntil(() => server.sessionCount === 0, 'the sessions are gone');
  const again = await client.connect(`127.0.0.1:${port}`);
  again.close();
});

test('maxSessionsPerAddress counts the handshakes in progress too: concurrent connects cannot overshoot it', async (t) => {
  const { server, endpoint } = await echoServer(t, '127.0.0.1', { maxSessionsPerAddress: 1 });
  const client = DatagramClient.create(serverKeys.publicKey, {}, { busyRetries: 0 });
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => client.connect(endpoint)));
  const opened = results.filter((r) => r.status === 'fulfilled');
  t.is(opened.length, 1);
  for (const r of results) {
    if (r.status === 'rejected') t.is((r.reason as SessionError).code, ErrorCode.SERVER_BUSY);
    else r.value.close();
  }
  t.true(server.sessionCount <= 1);
});

test("a server with no 'session' listener refuses a Hello with ServerBusy ('noListener') before any RSA", async (t) => {
  const server = DatagramServer.create('127.0.0.1:0', serverKeys.privateKey, undefined, { workers: 0 });
  const refused: DatagramRefusalLimit[] = [];
  server.on('refused', (limit) => refused.push(limit));
  await server.start();
  t.teardown(() => server.stop());
  const client = DatagramClient.create(serverKeys.publicKey, {}, { busyRetries: 0 });
  // Not a session that closes at once (code 1001) after the server's RSA.
  await t.throwsAsync(client.connect(server.address!), { code: ErrorCode.SERVER_BUSY });
  t.true(refused.length >= 1);
  t.true(refused.every((limit) => limit === 'noListener'));
  t.is(server.counters.decrypts, 0);
  t.is(server.counters.sessions, 0);
  // Once someone listens, the same client gets in.
  server.on('session', () => {});
  const session = await client.connect(server.address!);
  t.is(session.state, 'open');
  session.close();
});

test('a client key in authorizedKeys gets in, and the session knows it', async (t) => {
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const { server, endpoint, sessions } = await echoServer(t, '127.0.0.1', { authorizedKeys });
  const session = await DatagramClient.create(
    serverKeys.publicKey,
    {},
    { clientKey: clientKeys.privateKey },
  ).connect(endpoint);
  const echoed = nextMessage(session);
  session.send('alice here');
  t.is(String(await echoed), 'alice here');
  t.true(sessions[0]!.clientKey!.equals(clientKeys.publicKey));
  t.is(server.workerCounts.verifies, 1);
  session.close();
});

test('without a key, or with a key not in authorizedKeys, the server opens no session and reports ERR_NOT_AUTHORIZED', async (t) => {
  const dir = await tempDir(t);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKeys.publicKey.toOpenSSH('alice')}\n`, { mode: 0o600 });
  const { server, endpoint, sessions } = await echoServer(t, '127.0.0.1', { authorizedKeys });
  const errors: SessionError[] = [];
  server.on('handshakeError', (e) => errors.push(e));
  for (const clientKey of [undefined, serverKeys.privateKey]) {
    const before = errors.length;
    const alerts = server.counters.alerts;
    // The server answers a refused ClientFinished with one Alert record (§D3): the client
    // learns why, at once, instead of waiting out its handshake timeout (60 s here).
    const connecting = DatagramClient.create(
      serverKeys.publicKey,
      {},
      { handshakeTimeout: 60_000, ...(clientKey ? { clientKey } : {}) },
    ).connect(endpoint);
    await t.throwsAsync(connecting, { code: ErrorCode.NOT_AUTHORIZED });
    t.true(errors.length > before);
    t.is(errors[errors.length - 1]!.code, ErrorCode.NOT_AUTHORIZED);
    // That Alert record is counted with the other Alerts the server sent.
    t.is(server.counters.alerts, alerts + 1);
  }
  t.is(sessions.length, 0);
  t.is(server.sessionCount, 0);
  t.is(server.handshakeCount, 0);
  // A key outside the file is refused before its signature is verified (§6 step 3).
  t.is(server.workerCounts.verifies, 0);
});

test('the authorize hook sees the peer and decides', async (t) => {
  const seen: PeerInfo[] = [];
  let allow = false;
  const { server, endpoint, sessions } = await echoServer(t, '127.0.0.1', {
    authorize: (peer) => {
      seen.push(peer);
      return allow;
    },
  });
  const errors: SessionError[] = [];
  server.on('handshakeError', (e) => errors.push(e));
  const client = DatagramClient.create(
    serverKeys.publicKey,
    {},
    { clientKey: clientKeys.privateKey, handshakeTimeout: 60_000 },
  );
  await t.throwsAsync(client.connect(endpoint), { code: ErrorCode.NOT_AUTHORIZED });
  t.is(errors.length, 1);
  t.is(errors[0]!.code, ErrorCode.NOT_AUTHORIZED);
  allow = true;
  const allowed = await client.connect(endpoint);
  const echoed = nextMessage(allowed);
  allowed.send('allowed');
  t.is(String(await echoed), 'allowed');
  t.is(seen.length, 2);
  t.is(seen[1]!.remoteAddress, '127.0.0.1');
  t.is(seen[1]!.remotePort, sessions[0]!.remotePort);
  t.true(seen[1]!.clientKey!.equals(clientKeys.publicKey));
  t.is(seen[1]!.serverFingerprint, serverKeys.publicKey.fingerprint());
  allowed.close();
});

test('Hellos that find maxPendingDecrypts decryptions queued are refused before any RSA', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { workers: 1, maxPendingDecrypts: 1 });
  const refused: DatagramRefusalLimit[] = [];
  server.on('refused', (limit) => refused.push(limit));
  const to = { host: '127.0.0.1', port: server.address!.port };
  // Eight sources, each with its Hello carrying a valid cookie, then all sent at once:
  // the server reads them in one go while the first decryption is still with the worker.
  const ready = [];
  for (let i = 0; i < 8; i++) {
    const peer = await rawPeer(t, to);
    const hs = new DatagramClientHandshake({ serverKey: serverKeys.publicKey });
    await peer.send(hs.start(performance.now()));
    const step = hs.receive((await peer.answer(1))!, performance.now());
    if (step.kind !== 'send') return t.fail();
    ready.push({ peer, hello: step.packet });
  }
  await Promise.all(ready.map(({ peer, hello }) => peer.send(hello)));
  for (const { peer } of ready) t.not(await peer.answer(2), null);
  const answers = ready.map(({ peer }) => peer.received[1]!);
  const busy = answers.filter((a) => a[0] === PacketType.Alert);
  const hellos = answers.filter((a) => a[0] === PacketType.ServerHello);
  t.is(busy.length + hellos.length, 8);
  t.true(busy.length >= 1);
  t.true(refused.length === busy.length && refused.every((l) => l === 'maxPendingDecrypts'));
  t.is(server.counters.decrypts, hellos.length);
  t.true(busy.every((a) => a.length === ALERT_PACKET_SIZE));
});
