import { once } from 'node:events';
import test from 'ava';
import {
  CLOSE_ABNORMAL,
  CLOSE_GOING_AWAY,
  ErrorCode,
  PeerClosedError,
  Server,
  secureDuplex,
} from '../src/index.js';
import type { Session } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { rawConnect, startServer } from './helpers/net.js';

test('stop closes live sessions with 1001, destroys handshakes in progress, then stops listening', async (t) => {
  const { server, port, client: makeClient, endpoint } = await startServer({ workers: 1 });
  const accepted: Session[] = [];
  server.on('session', (s) => accepted.push(s));
  const clients = [makeClient(), makeClient(), makeClient()];
  for (const c of clients) await c.connect(endpoint);
  const closes = clients.map((c) => new Promise((resolve) => c.session!.once('close', (...a) => resolve(a))));
  const reads = clients.map((c) => c.read());
  const handshaking = await rawConnect(port);
  const handshakeGone = once(handshaking, 'close');
  let stoppedEvent = false;
  server.once('close', () => {
    stoppedEvent = true;
  });
  await server.stop();
  t.true(stoppedEvent);
  t.false(server.listening);
  t.is(server.address, null);
  for (const read of reads) {
    const err = await t.throwsAsync(read, { instanceOf: PeerClosedError });
    t.is(err?.closeCode, CLOSE_GOING_AWAY);
    t.is(err?.reason, 'server stopping');
  }
  for (const close of closes) t.deepEqual(await close, [CLOSE_GOING_AWAY, 'server stopping']);
  // The server's side ended normally: our close was echoed.
  for (const s of accepted) t.is(await s.read(), null);
  await handshakeGone;
  await t.throwsAsync(makeClient().connect(endpoint), { code: ErrorCode.TRANSPORT });
});

test('stop rejects pending acceptClient calls with ERR_SESSION_CLOSED, and a stopped server can start again', async (t) => {
  const { server, client: makeClient } = await startServer();
  const pending = server.acceptClient();
  await server.stop();
  await t.throwsAsync(pending, { code: ErrorCode.SESSION_CLOSED, message: 'server stopped' });
  await t.throwsAsync(server.acceptClient(), {
    code: ErrorCode.SESSION_CLOSED,
    message: 'server is not running',
  });
  await server.stop();
  await server.start();
  t.teardown(() => server.stop());
  const client = makeClient();
  const accepted = server.acceptClient();
  await client.connect(server.address!);
  await client.write('back');
  t.is((await (await accepted).read())?.toString(), 'back');
  await client.close();
});

test('stop gives a session that never echoes the close at most closeTimeout', async (t) => {
  const { server, port, keys } = await startServer({ closeTimeout: 150 });
  const accepted = server.acceptClient();
  const socket = await rawConnect(port);
  await secureDuplex(socket, { role: 'client', serverKey: keys.publicKey });
  const serverSession = await accepted;
  // The client stops reading: it never sees the close, so never echoes it.
  socket.pause();
  await server.stop();
  t.is(serverSession.closeCode, CLOSE_ABNORMAL);
  await t.throwsAsync(serverSession.read(), {
    code: ErrorCode.TIMEOUT,
    message: 'close timed out after 150 ms',
  });
  socket.destroy();
});

test('await using stops a server and closes a client', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  let session: Session;
  {
    await using s = server;
    await using client = makeClient();
    session = await client.connect(endpoint);
    t.true(s.listening);
  }
  t.is(session.state, 'closed');
  t.is(session.closeCode, 1000);
  t.false(server.listening);
});

for (const options of [undefined, { drain: 200 }, { drain: 0 }]) {
  test(`stop(${JSON.stringify(options) ?? ''}) during start(): start() finishes, then the server stops; nothing listens`, async (t) => {
    const server = Server.create('127.0.0.1:0', fixtureKeys().privateKey, undefined, { workers: 1 });
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.on('close', () => events.push('close'));
    const starting = server.start();
    const stopping = server.stop(options);
    await Promise.all([starting, stopping]);
    t.false(server.listening);
    t.is(server.address, null);
    t.deepEqual(events, ['listening', 'close']);
    // The port it had is closed, and the server starts again as any stopped server.
    await server.start();
    const port = server.address!.port;
    await server.stop();
    await t.throwsAsync(rawConnect(port), { code: 'ECONNREFUSED' });
  });
}

test("stop() during a start() that fails resolves, without 'close' (nothing was started)", async (t) => {
  const server = Server.create('127.0.0.1:0', '/nonexistent/secsess-test.key', undefined, { workers: 0 });
  let closes = 0;
  server.on('close', () => closes++);
  const [started] = await Promise.allSettled([server.start(), server.stop()]);
  t.is(started.status, 'rejected');
  t.false(server.listening);
  t.is(closes, 0, 'nothing was started: no close');
});
