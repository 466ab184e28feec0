/** `server.stop({ drain })`: a graceful stop that lets open sessions finish on their own. */
import { once } from 'node:events';
import { connect } from 'node:net';
import test from 'ava';
import { CLOSE_GOING_AWAY, ErrorCode, PeerClosedError, SessionError } from '../src/index.js';
import type { Session } from '../src/index.js';
import { echo, echoSessions, rawConnect, startServer, waitUntil } from './helpers/net.js';
import type { TestServer } from './helpers/net.js';

/** A deadline no test waits for: if the drain does not end otherwise, ava's timeout fails the test. */
const LONG = 600_000;

/** Connects a raw TCP socket; resolves with the connection error's code (or 'connected'). */
async function tryConnect(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  try {
    await once(socket, 'connect');
    return 'connected';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unknown';
  } finally {
    socket.destroy();
  }
}

/** Connects `count` clients and waits until the server holds their sessions (its side of the handshake done too). */
async function open(rig: TestServer, count: number): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) sessions.push(await rig.client().connect(rig.endpoint));
  await waitUntil(() => rig.server.sessionCount === count, `the server holds ${count} sessions`);
  return sessions;
}

async function echoes(session: Session, text: string): Promise<string | undefined> {
  await session.write(text);
  return (await session.read())?.toString();
}

test('stop({ drain }) stops listening at once; an open session keeps exchanging messages and stop resolves when it closes', async (t) => {
  const rig = await startServer();
  const { server, port, endpoint, client } = rig;
  echoSessions(server);
  const [session] = (await open(rig, 1)) as [Session];
  t.false(server.draining);
  let stopped = false;
  const stopping = server.stop({ drain: LONG }).then(() => {
    stopped = true;
  });
  t.true(server.draining);
  t.false(server.listening);
  t.is(await tryConnect(port), 'ECONNREFUSED');
  const err = await t.throwsAsync(client().connect(endpoint), { code: ErrorCode.TRANSPORT });
  t.is((err?.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
  for (let i = 0; i < 5; i++) t.is(await echoes(session, `message ${i}`), `message ${i}`);
  t.false(stopped);
  t.is(server.sessionCount, 1);
  await session.close();
  await stopping;
  t.is(session.closeCode, 1000);
  t.false(server.draining);
  t.is(server.address, null);
});

test('sessions still open at the drain deadline are closed with 1001; those that closed on their own are not', async (t) => {
  const rig = await startServer();
  const { server } = rig;
  echoSessions(server);
  const [leaving, staying] = (await open(rig, 2)) as [Session, Session];
  const stopping = server.stop({ drain: 300 });
  t.is(await echoes(leaving, 'bye'), 'bye');
  await leaving.close();
  t.is(leaving.closeCode, 1000);
  t.is(await echoes(staying, 'still here'), 'still here');
  const err = await t.throwsAsync(staying.read(), { instanceOf: PeerClosedError });
  t.is(err?.closeCode, CLOSE_GOING_AWAY);
  t.is(err?.reason, 'server stopping');
  await stopping;
  t.false(server.draining);
});

const secondStop = test.macro(async (t, second: { drain?: number } | undefined) => {
  const rig = await startServer();
  const { server } = rig;
  echoSessions(server);
  const [session] = (await open(rig, 1)) as [Session];
  const first = server.stop({ drain: LONG });
  t.true(server.draining);
  await echoes(session, 'draining');
  // A second SIGTERM: the wait ends now, the session is closed with 1001.
  await Promise.all([server.stop(second), first]);
  t.false(server.draining);
  t.is(session.closeCode, CLOSE_GOING_AWAY);
  t.is(session.closeReason, 'server stopping');
});

test('a second stop() during the drain ends it at once', secondStop, undefined);
test('a second stop({ drain: 0 }) during the drain ends it at once', secondStop, { drain: 0 });

test('a second stop() with a shorter drain brings the deadline closer', async (t) => {
  const rig = await startServer();
  const { server } = rig;
  echoSessions(server);
  const [session] = (await open(rig, 1)) as [Session];
  const first = server.stop({ drain: LONG });
  const second = server.stop({ drain: 100 });
  t.true(server.draining);
  await Promise.all([first, second]);
  t.is(session.closeCode, CLOSE_GOING_AWAY);
});

test('stop({ drain }) destroys handshakes in progress and closes sessions never handed to the application, not the accepted ones', async (t) => {
  const rig = await startServer();
  const { server, port } = rig;
  // No 'session' listener: the first session is taken by acceptClient(), the second waits in the queue.
  const accepting = server.acceptClient();
  const [taken, queued] = (await open(rig, 2)) as [Session, Session];
  void echo(await accepting);
  const handshaking = await rawConnect(port);
  await waitUntil(() => server.handshakeCount === 1, 'the server has the connection');
  const handshakeGone = once(handshaking, 'close');
  const stopping = server.stop({ drain: LONG });
  await handshakeGone;
  const err = await t.throwsAsync(queued.read(), { instanceOf: PeerClosedError });
  t.is(err?.closeCode, CLOSE_GOING_AWAY);
  t.true(server.draining);
  t.is(await echoes(taken, 'accepted: still served'), 'accepted: still served');
  await taken.close();
  await stopping;
  t.is(server.sessionCount, 0);
});

test('stop({ drain }) rejects pending acceptClient() calls with ERR_SESSION_CLOSED while it drains', async (t) => {
  const rig = await startServer();
  const { server } = rig;
  const accepting = server.acceptClient();
  const [session] = (await open(rig, 1)) as [Session];
  void echo(await accepting);
  const pending = server.acceptClient();
  const stopping = server.stop({ drain: LONG });
  await t.throwsAsync(pending, {
    instanceOf: SessionError,
    code: ErrorCode.SESSION_CLOSED,
    message: 'server stopped',
  });
  t.true(server.draining);
  t.is(await echoes(session, 'served'), 'served');
  await session.close();
  await stopping;
});

test('stop() checks its options: TypeError / RangeError, and the server keeps listening', async (t) => {
  const { server } = await startServer();
  t.teardown(() => server.stop());
  await t.throwsAsync(server.stop({ drain: -1 }), {
    instanceOf: RangeError,
    message: 'drain must be from 0 to 2147483647, got -1',
  });
  await t.throwsAsync(server.stop({ drain: 1.5 }), {
    instanceOf: TypeError,
    message: 'drain must be an integer',
  });
  await t.throwsAsync(server.stop({ drain: '5' as unknown as number }), { instanceOf: TypeError });
  await t.throwsAsync(server.stop(null as unknown as undefined), {
    instanceOf: TypeError,
    message: 'options must be an object',
  });
  t.true(server.listening);
  t.false(server.draining);
});

test('a stopped server started again after a drain serves normally', async (t) => {
  const rig = await startServer();
  const { server, client } = rig;
  echoSessions(server);
  const [session] = (await open(rig, 1)) as [Session];
  const stopping = server.stop({ drain: LONG });
  t.true(server.draining);
  await session.close();
  await stopping;
  await server.start();
  t.teardown(() => server.stop());
  const again = await client().connect(server.address!);
  t.is(await echoes(again, 'again'), 'again');
  await again.close();
});
