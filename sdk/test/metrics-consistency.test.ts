/**
 * Metrics and events agree (README "Metrics"): a client that leaves while it is authorized is
 * a failed handshake (ERR_SESSION_CLOSED, as its trace says); nothing that ends during
 * `stop()` is a failure; RSA counts are kept since the server was created; a datagram
 * session closed at once for want of a `'session'` listener is a failure, not a success.
 * Real TCP and UDP on 127.0.0.1; waits on events, bounded.
 */
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CHANNELS, Client, DatagramClient, DatagramServer, ErrorCode } from '../src/index.js';
import type { HandshakeContext } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { startServer, waitUntil } from './helpers/net.js';

const serverKeys = fixtureKeys('server-2048');

/** The sockets a net server accepts from now until the test ends. */
function serverSockets(t: ExecutionContext): Socket[] {
  const sockets: Socket[] = [];
  const listener = (m: unknown): void => void sockets.push((m as { socket: Socket }).socket);
  diagnostics.subscribe('net.server.socket', listener);
  t.teardown(() => diagnostics.unsubscribe('net.server.socket', listener));
  return sockets;
}

function traceEnds(t: ExecutionContext): HandshakeContext[] {
  const ends: HandshakeContext[] = [];
  const listener = (m: unknown): void => void ends.push({ ...(m as HandshakeContext) });
  const name = `tracing:${CHANNELS.handshake}:asyncEnd`;
  diagnostics.subscribe(name, listener);
  t.teardown(() => diagnostics.unsubscribe(name, listener));
  return ends;
}

test.serial(
  'a client that leaves during authorization is a failed handshake, ERR_SESSION_CLOSED, without an event',
  async (t) => {
    const sockets = serverSockets(t);
    let hookCalled = false;
    const { server, endpoint } = await startServer(
      {
        authorize: async () => {
          hookCalled = true;
          const socket = sockets[0]!;
          if (!socket.destroyed) await once(socket, 'close');
          return true;
        },
      },
      serverKeys,
    );
    t.teardown(() => server.stop());
    const errors: unknown[] = [];
    server.on('handshakeError', (err) => errors.push(err));
    const session = await Client.create(serverKeys.publicKey).connect(endpoint);
    await waitUntil(() => hookCalled, 'the hook runs');
    session.destroy();
    await waitUntil(() => server.metrics().handshakes.inProgress === 0, 'the handshake is over');
    const m = server.metrics();
    t.is(m.handshakes.succeeded, 0);
    t.is(m.handshakes.failed, 1);
    t.deepEqual(m.handshakes.failedByCode, { [ErrorCode.SESSION_CLOSED]: 1 });
    t.is(m.sessions.opened, 0);
    t.deepEqual(errors, []);
  },
);

test.serial(
  'a denial while the server stops counts as no failure and emits nothing, as a failed handshake then',
  async (t) => {
    let release: (allowed: boolean) => void = () => {};
    let hookCalled = false;
    const { server, endpoint } = await startServer(
      {
        authorize: () => {
          hookCalled = true;
          return new Promise<boolean>((resolve) => (release = resolve));
        },
      },
      serverKeys,
    );
    const errors: unknown[] = [];
    server.on('handshakeError', (err) => errors.push(err));
    const connecting = Client.create(serverKeys.publicKey).connect(endpoint);
    connecting.then(
      (s) => s.destroy(),
      () => {},
    );
    await waitUntil(() => hookCalled, 'the hook runs');
    const stopping = server.stop();
    release(false);
    await stopping;
    await tick();
    await tick();
    const m = server.metrics();
    t.is(m.handshakes.failed, 0);
    t.deepEqual(m.handshakes.failedByCode, {});
    t.deepEqual(errors, []);
  },
);

test.serial('RSA counts are kept across stop() and start()', async (t) => {
  const { server, endpoint } = await startServer({ workers: 1 }, serverKeys);
  t.teardown(() => server.stop());
  const session = await Client.create(serverKeys.publicKey).connect(endpoint);
  await session.close();
  t.is(server.metrics().rsa.decrypts, 1);
  await server.stop();
  t.is(server.metrics().rsa.decrypts, 1);
  await server.start();
  t.is(server.metrics().rsa.decrypts, 1);
});

test.serial(
  'a datagram session closed at once for want of a session listener is a failed handshake, its trace fails',
  async (t) => {
    const ends = traceEnds(t);
    const server = DatagramServer.create({ host: '127.0.0.1', port: 0 }, serverKeys.privateKey, undefined, {
      workers: 0,
      // The last 'session' listener goes while the client is authorized.
      authorize: () => {
        server.removeAllListeners('session');
        return true;
      },
    });
    server.on('session', () => {});
    await server.start();
    t.teardown(() => server.stop());
    const client = DatagramClient.create(serverKeys.publicKey, {}, { keepAliveInterval: 0 });
    const session = await client.connect(`127.0.0.1:${server.address!.port}`).catch(() => null);
    session?.destroy();
    await waitUntil(() => ends.some((c) => c.role === 'server'), 'the server trace ended');
    const m = server.metrics();
    t.is(m.handshakes.succeeded, 0);
    t.deepEqual(m.handshakes.failedByCode, { [ErrorCode.SESSION_CLOSED]: 1 });
    const trace = ends.find((c) => c.role === 'server')!;
    t.is((trace.error as { code?: string } | undefined)?.code, ErrorCode.SESSION_CLOSED);
  },
);

test.serial(
  'with workers: 0 a stream server counts its main-thread decryptions, as a DatagramServer',
  async (t) => {
    const { server, endpoint } = await startServer({ workers: 0 }, serverKeys);
    t.teardown(() => server.stop());
    for (let i = 0; i < 2; i++) {
      const session = await Client.create(serverKeys.publicKey).connect(endpoint);
      await session.close();
    }
    t.like(server.metrics().rsa, { queued: 0, decrypts: 0, verifies: 0, mainThread: 2 });
    t.is(server.workerCounts.inline, 2);
  },
);
