/**
 * Pre-authentication memory (issue 12, defect 3). Each handshake state accepts only the
 * frames it can legitimately receive: while the server awaits ClientFinished a record whose
 * body exceeds the sealed size of the largest ClientFinished (1067 bytes: a 4096-bit key and
 * its signature) is refused on its header, and a client awaiting ServerFinished accepts no
 * record longer than a sealed Hlen-byte proof. And a connection that drips its largest
 * allowed frame one byte per TCP segment holds about that frame, not ~200 bytes per segment.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { ALL_SUITES, Client, ErrorCode, Server } from '../src/index.js';
import type { AlgorithmSet, RemoteInfo, SessionError, Suite } from '../src/index.js';
import { ClientConnection, ServerConnection } from '../src/protocol/index.js';
import { sealedSize } from '../src/protocol/record-layer.js';
import { outcome, rawFrom, sendHello } from './helpers/attackers.js';
import { fixtureKeys } from './helpers/keys.js';
import { echo, waitUntil } from './helpers/net.js';
import { fixturePrivateKey, fixturePublicKey } from './helpers/protocol-pair.js';
import { mib, startServerProcess } from './helpers/server-process.js';

/** flags ‖ u16 ‖ SPKI of a 4096-bit key with e = 65537 ‖ u16 ‖ its signature (PROTOCOL.md). */
const MAX_CLIENT_FINISHED = 1 + 2 + 550 + 2 + 512;

function setOf(suite: Suite): AlgorithmSet {
  return { symmetric: suite.symmetric, hash: suite.hash };
}

/** A ClientHello for `set` from a real client core (the fixture server key). */
function helloFor(set: AlgorithmSet): Buffer {
  const sent: Buffer[] = [];
  new ClientConnection(
    { send: (d) => sent.push(d), established: () => {}, message: () => {}, peerClosed: () => {} },
    { serverKey: fixtureKeys().publicKey, set },
  ).start();
  return sent[0]!;
}

function recordHeader(bodyLength: number): Buffer {
  return Buffer.from([0x17, bodyLength >>> 16, (bodyLength >>> 8) & 0xff, bodyLength & 0xff]);
}

/** A server on 127.0.0.1:0 that records each handshake failure's code by remote port. */
async function failureServer(): Promise<{ server: Server; port: number; failures: Map<number, string> }> {
  const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, {
    workers: 0,
    handshakeTimeout: 4000,
  });
  const failures = new Map<number, string>();
  server.on('handshakeError', (err: SessionError, remote: RemoteInfo) =>
    failures.set(remote.port!, err.code),
  );
  await server.start();
  return { server, port: server.address!.port, failures };
}

const SUITES = [ALL_SUITES[0]!, ...ALL_SUITES.filter((s) => s.mode === 'aead' || s.hash === 'SHA-512')];

test('a record longer than the largest ClientFinished is refused on its header while the server awaits ClientFinished', async (t) => {
  const { server, port, failures } = await failureServer();
  t.teardown(() => server.stop());
  for (const suite of SUITES) {
    const bound = sealedSize(suite, MAX_CLIENT_FINISHED) - 4;
    const socket = await rawFrom(port);
    const local = socket.localPort!;
    await sendHello(socket, helloFor(setOf(suite)));
    const ended = outcome(socket);
    // The header alone: no body byte follows. The server must not wait for one.
    socket.write(recordHeader(bound + 1));
    await ended;
    await waitUntil(() => failures.has(local), 'the server reported the failure');
    t.is(failures.get(local), ErrorCode.HANDSHAKE, `${suite.symmetric} ${suite.hash}`);
  }
});

test('a record of exactly that bound is read, and fails as any forged ClientFinished does', async (t) => {
  const { server, port, failures } = await failureServer();
  t.teardown(() => server.stop());
  for (const suite of SUITES) {
    const bound = sealedSize(suite, MAX_CLIENT_FINISHED) - 4;
    const socket = await rawFrom(port);
    const local = socket.localPort!;
    await sendHello(socket, helloFor(setOf(suite)));
    const ended = outcome(socket);
    socket.write(Buffer.concat([recordHeader(bound), Buffer.alloc(bound, 0x5a)]));
    await ended;
    await waitUntil(() => failures.has(local), 'the server reported the failure');
    t.is(failures.get(local), ErrorCode.HANDSHAKE, `${suite.symmetric} ${suite.hash}`);
  }
});

test('a client with a 4096-bit client-auth key connects in every suite', async (t) => {
  const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, { workers: 0 });
  const seen: string[] = [];
  server.on('session', (session) => {
    seen.push(session.clientKey?.fingerprint() ?? 'none');
    void echo(session);
  });
  await server.start();
  t.teardown(() => server.stop());
  const clientKey = fixturePrivateKey('server-4096');
  t.is(clientKey.publicKey.bits, 4096);
  for (const suite of ALL_SUITES) {
    const client = Client.create(fixtureKeys().publicKey, setOf(suite), { clientKey });
    const session = await client.connect(`127.0.0.1:${server.address!.port}`);
    await session.write('hello');
    t.is((await session.read())?.toString(), 'hello');
    await session.close();
  }
  t.deepEqual(
    seen,
    ALL_SUITES.map(() => fixturePublicKey('server-4096').fingerprint()),
  );
});

test('a client awaiting ServerFinished refuses a record longer than a sealed proof on its header', (t) => {
  for (const suite of ALL_SUITES) {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const handler = (out: Buffer[]) => ({
      send: (d: Buffer) => void out.push(d),
      established: () => {},
      message: () => {},
      peerClosed: () => {},
    });
    const client = new ClientConnection(handler(toServer), {
      serverKey: fixturePublicKey('server-2048'),
      set: setOf(suite),
    });
    const server = new ServerConnection(handler(toClient), { keys: [fixturePrivateKey('server-2048')] });
    client.start();
    server.receive(toServer.shift()!);
    const [serverHello, serverFinished] = toClient;
    const bound = sealedSize(suite, suite.hashLength) - 4;
    t.is(serverFinished!.length - 4, bound, 'the real ServerFinished is exactly at the bound');
    client.receive(serverHello!);
    const err = t.throws(() => client.receive(recordHeader(bound + 1)));
    t.is((err as SessionError).code, ErrorCode.HANDSHAKE);
  }
});

test('frames sent while the RSA decryption runs are charged their overhead, not just their bytes', async (t) => {
  // Decryption in a worker: the rest of the chunk arrives while the server waits for it.
  const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, { workers: 1 });
  const failures = new Map<number, string>();
  server.on('handshakeError', (err: SessionError, remote: RemoteInfo) =>
    failures.set(remote.port!, err.code),
  );
  await server.start();
  t.teardown(() => server.stop());
  // 1365 six-byte Timeout alerts (8190 bytes, within the 8 KiB of bytes): each would be a
  // queued Buffer. Charged 128 bytes each on top, they exceed the bound after ~60.
  const alerts = Buffer.concat(Array.from({ length: 1365 }, () => Buffer.from([0x15, 0, 0, 2, 0x00, 0x0b])));
  const socket = await rawFrom(server.address!.port);
  const local = socket.localPort!;
  const ended = outcome(socket);
  socket.write(Buffer.concat([helloFor({}), alerts]));
  await ended;
  await waitUntil(() => failures.has(local), 'the server reported the failure');
  // Not the queued alert's code: the queue was refused first.
  t.is(failures.get(local), ErrorCode.HANDSHAKE);
});

/** Pre-auth connections dripping their largest allowed frame, in the server child process. */
const DRIPPERS = 32;
const FRAME = 4096;

test('a connection dripping its largest allowed frame one byte per segment holds about that frame', async (t) => {
  const server = await startServerProcess({
    handshakeTimeout: 120_000,
    maxHandshakes: DRIPPERS,
    maxHandshakesPerAddress: DRIPPERS,
  });
  t.teardown(() => server.kill());
  const empty = await server.stats();
  const sockets = await Promise.all(Array.from({ length: DRIPPERS }, () => rawFrom(server.port)));
  for (const s of sockets) s.setNoDelay(true);
  let idle = await server.stats();
  for (let i = 0; i < 100 && idle.handshakeCount < DRIPPERS; i++) {
    await sleep(20);
    idle = await server.stats();
  }
  t.is(idle.handshakeCount, DRIPPERS);
  // The largest frame any pre-auth state accepts: a 4096-byte handshake frame (a ClientHello's type).
  const frame = Buffer.concat([
    Buffer.from([0x03, 0x00, FRAME >>> 8, FRAME & 0xff]),
    Buffer.alloc(FRAME, 0x42),
  ]);
  // One byte per socket per round, with a pause so that the server reads each as its own segment.
  for (let i = 0; i < frame.length - 1; i++) {
    for (const s of sockets) s.write(frame.subarray(i, i + 1));
    if (i % 4 === 3) await sleep(1);
  }
  await Promise.all(sockets.map((s) => (s.writableLength > 0 ? once(s, 'drain') : null)));
  await sleep(200);
  const dripping = await server.stats();
  t.is(dripping.handshakeCount, DRIPPERS, 'every dripping connection is still in its handshake');
  const heap = (s: typeof empty): number => s.heapUsed + s.external;
  const perIdle = (heap(idle) - heap(empty)) / DRIPPERS;
  const perFrame = (heap(dripping) - heap(idle)) / DRIPPERS;
  const rssPer = (dripping.rss - empty.rss) / DRIPPERS;
  t.log(
    `${DRIPPERS} connections: idle ${(perIdle / 1024).toFixed(1)} KiB each (heap+external); ` +
      `dripping a ${frame.length}-byte frame 1 byte per write adds ${(perFrame / 1024).toFixed(1)} KiB each; ` +
      `RSS ${mib(dripping.rss - empty.rss)} for all (${(rssPer / 1024).toFixed(1)} KiB each)`,
  );
  // The frame's own buffer and a little; 4099 kept segments would be hundreds of KiB.
  t.true(perFrame < 32 * 1024, `dripping costs ${perFrame} bytes per connection`);
  for (const s of sockets) s.destroy();
  const after = await server.stop();
  t.deepEqual(after.findings, []);
});
