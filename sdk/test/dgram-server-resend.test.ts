/**
 * The DatagramServer's side of retransmission and its lifecycle edges (PROTOCOL.md §D3):
 * a retransmitted Hello gets the stored ServerHello again (at most 3 times, no new RSA),
 * a Hello from another port with the same token is a new source (a Cookie), stop() in the
 * middle of handshakes, a rejected 'session' listener, a dual-stack server.
 */
import { once } from 'node:events';
import test from 'ava';
import { DatagramClient, DatagramServer } from '../src/index.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import { PacketType } from '../src/protocol/datagram/constants.js';
import { echoServer, nextMessage, rawPeer, serverKeys } from './helpers/dgram-net.js';
import { ipv6Available, waitUntil } from './helpers/net.js';

test('a Hello sent again after the ServerHello gets the same ServerHello, at most 3 times, with no new RSA', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { handshakeTimeout: 60_000 });
  const peer = await rawPeer(t, { host: '127.0.0.1', port: server.address!.port });
  const hs = new DatagramClientHandshake({ serverKey: serverKeys.publicKey });
  await peer.send(hs.start(performance.now()));
  const cookie = (await peer.answer(1))!;
  t.is(cookie[0], PacketType.Cookie);
  const step = hs.receive(cookie, performance.now());
  if (step.kind !== 'send') return t.fail(`expected a Hello with the cookie, got ${step.kind}`);
  const hello = step.packet;
  await peer.send(hello);
  const serverHello = (await peer.answer(2))!;
  t.is(serverHello[0], PacketType.ServerHello);
  t.true(serverHello.length < hello.length);
  for (let i = 0; i < 5; i++) await peer.send(hello);
  // A Cookie-less probe after them: once its answer is back, every resend was handled.
  await peer.send(new DatagramClientHandshake({ serverKey: serverKeys.publicKey }).start(performance.now()));
  await peer.answer(6);
  const resent = peer.received.slice(2, -1);
  t.is(resent.length, 3);
  for (const p of resent) t.deepEqual(p, serverHello);
  t.is(peer.received[peer.received.length - 1]![0], PacketType.Cookie);
  t.is(server.counters.decrypts, 1);
  t.is(server.handshakeCount, 1);
  // The handshake still completes with that ServerHello.
  const open = hs.receive(serverHello, performance.now());
  if (open.kind !== 'open') return t.fail();
  await peer.send(open.clientFinished);
  await waitUntil(() => server.sessionCount === 1, 'the session is open');
  t.is(server.handshakeCount, 0);
  // A late copy of the Hello (still in the network) starts nothing: no RSA, no state, no answer.
  const before = peer.received.length;
  await peer.send(hello);
  await peer.send(new DatagramClientHandshake({ serverKey: serverKeys.publicKey }).start(performance.now()));
  // The probe's Cookie comes after whatever the Hello copy caused: wait for it.
  const isCookie = (p: Buffer): boolean => p[0] === PacketType.Cookie;
  await waitUntil(() => peer.received.slice(before).some(isCookie), "the probe's Cookie");
  t.is(server.counters.decrypts, 1);
  t.is(server.handshakeCount, 0);
  // Nothing but the probe's Cookie (and the session's HandshakeDone record) came back.
  const after = peer.received.slice(before).filter((p) => p[0] !== PacketType.Record);
  t.deepEqual(
    after.map((p) => p[0]),
    [PacketType.Cookie],
  );
});

test('the same Hello from another port is another source: it gets a Cookie, not the ServerHello', async (t) => {
  const { server } = await echoServer(t, '127.0.0.1', { handshakeTimeout: 60_000 });
  const to = { host: '127.0.0.1', port: server.address!.port };
  const peer = await rawPeer(t, to);
  const hs = new DatagramClientHandshake({ serverKey: serverKeys.publicKey });
  await peer.send(hs.start(performance.now()));
  const step = hs.receive((await peer.answer(1))!, performance.now());
  if (step.kind !== 'send') return t.fail();
  await peer.send(step.packet);
  t.is((await peer.answer(2))![0], PacketType.ServerHello);
  const thief = await rawPeer(t, to);
  await thief.send(step.packet);
  const reply = (await thief.answer(1))!;
  t.is(reply[0], PacketType.Cookie);
  t.is(server.counters.decrypts, 1);
});

test('stop() during handshakes drops them without handshakeError events and frees every slot', async (t) => {
  const server = DatagramServer.create('127.0.0.1:0', serverKeys.privateKey, undefined, {
    workers: 1,
    handshakeTimeout: 60_000,
  });
  const errors: unknown[] = [];
  server.on('handshakeError', (e) => errors.push(e));
  server.on('session', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const peers = [];
  for (let i = 0; i < 3; i++) {
    const peer = await rawPeer(t, { host: '127.0.0.1', port: server.address!.port });
    const hs = new DatagramClientHandshake({ serverKey: serverKeys.publicKey });
    await peer.send(hs.start(performance.now()));
    const step = hs.receive((await peer.answer(1))!, performance.now());
    if (step.kind === 'send') await peer.send(step.packet);
    await peer.answer(2);
    peers.push(peer);
  }
  t.is(server.handshakeCount, 3);
  await server.stop();
  t.is(server.handshakeCount, 0);
  t.deepEqual(errors, []);
});

test("a 'session' listener that rejects fails that session only; the server goes on", async (t) => {
  const server = DatagramServer.create('127.0.0.1:0', serverKeys.privateKey, undefined, { workers: 0 });
  let calls = 0;
  server.on('session', async (session) => {
    calls++;
    if (calls === 1) throw new Error('listener bug');
    session.on('message', (m) => session.send(m));
  });
  await server.start();
  t.teardown(() => server.stop());
  const client = DatagramClient.create(serverKeys.publicKey);
  const first = await client.connect(server.address!);
  await waitUntil(() => server.sessionCount === 0, 'the failed session is gone');
  first.destroy();
  const second = await client.connect(server.address!);
  const echoed = nextMessage(second);
  second.send('fine');
  t.is(String(await echoed), 'fine');
  second.close();
});

test('a server on [::] takes IPv4 clients (mapped addresses) and IPv6 clients', async (t) => {
  if (!(await ipv6Available())) return t.pass('no IPv6 on this machine');
  const server = DatagramServer.create('[::]:0', serverKeys.privateKey, undefined, { workers: 0 });
  const remotes: string[] = [];
  server.on('session', (session) => {
    remotes.push(session.remoteAddress);
    session.on('message', (m) => session.send(m));
  });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  const client = DatagramClient.create(serverKeys.publicKey);
  for (const endpoint of [`127.0.0.1:${port}`, `[::1]:${port}`]) {
    const session = await client.connect(endpoint);
    const echoed = nextMessage(session);
    session.send(endpoint);
    t.is(String(await echoed), endpoint);
    const closed = once(session, 'close');
    session.close();
    await closed;
  }
  t.deepEqual(remotes, ['::ffff:127.0.0.1', '::1']);
});
