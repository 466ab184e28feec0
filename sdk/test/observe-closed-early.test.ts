/**
 * A stream session that closes while its owner awaits before handing it on (a tofu client
 * recording the server's key, a secureDuplex server's authorize hook) is never published
 * open, and its handshake trace fails with ERR_SESSION_CLOSED: an open is always followed
 * by a close. Real TCP on 127.0.0.1; the waits are on events, bounded.
 */
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CHANNELS, Client, ErrorCode, secureDuplex } from '../src/index.js';
import type { HandshakeContext, SessionOpenMessage } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { startServer, waitUntil } from './helpers/net.js';

const serverKeys = fixtureKeys('server-2048');

interface Seen {
  readonly open: SessionOpenMessage[];
  readonly close: unknown[];
  readonly asyncEnd: HandshakeContext[];
}

function subscribe(t: ExecutionContext): Seen {
  const seen: Seen = { open: [], close: [], asyncEnd: [] };
  const pairs = [
    [CHANNELS.sessionOpen, (m: unknown) => seen.open.push(m as SessionOpenMessage)],
    [CHANNELS.sessionClose, (m: unknown) => seen.close.push(m)],
    [
      `tracing:${CHANNELS.handshake}:asyncEnd`,
      (m: unknown) => seen.asyncEnd.push({ ...(m as HandshakeContext) }),
    ],
  ] as const;
  for (const [name, listener] of pairs) diagnostics.subscribe(name, listener);
  t.teardown(() => {
    for (const [name, listener] of pairs) diagnostics.unsubscribe(name, listener);
  });
  return seen;
}

/** The sockets `net.connect()` makes from now until the test ends. */
function clientSockets(t: ExecutionContext): Socket[] {
  const sockets: Socket[] = [];
  const listener = (m: unknown): void => void sockets.push((m as { socket: Socket }).socket);
  diagnostics.subscribe('net.client.socket', listener);
  t.teardown(() => diagnostics.unsubscribe('net.client.socket', listener));
  return sockets;
}

test.serial(
  'a tofu client whose session closes while it records the key: no open, the trace fails',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'secsess-closed-early-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, '', { mode: 0o600 });
    const { server, endpoint } = await startServer({}, serverKeys);
    t.teardown(() => server.stop());
    server.on('session', (session) => session.destroy());
    const seen = subscribe(t);
    const sockets = clientSockets(t);
    // The known_hosts lock, held by this (live) process: the client's confirm() waits for it.
    const lock = `${knownHosts}.lock`;
    await writeFile(
      lock,
      `${JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString() })}\n`,
      {
        mode: 0o600,
        flag: 'wx',
      },
    );
    const connecting = Client.create(null, {}, { trust: 'tofu', knownHosts }).connect(endpoint);
    connecting.catch(() => {});
    await waitUntil(() => sockets.length === 1, 'the client dialled');
    const socket = sockets[0]!;
    if (!socket.destroyed) await once(socket, 'close');
    await unlink(lock);
    const session = await connecting.catch(() => null);
    t.true(session === null || session.state === 'closed');
    await waitUntil(() => seen.asyncEnd.some((c) => c.role === 'client'), 'the client trace ended');
    t.deepEqual(
      seen.open.filter((m) => m.role === 'client'),
      [],
    );
    t.is(seen.close.length, seen.open.length, 'every open has its close');
    const trace = seen.asyncEnd.find((c) => c.role === 'client')!;
    t.is((trace.error as { code?: string } | undefined)?.code, ErrorCode.SESSION_CLOSED);
  },
);

test.serial(
  'a secureDuplex server whose client leaves during authorization rejects, publishes no open',
  async (t) => {
    const listener = createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    t.teardown(() => listener.close());
    const accepted = once(listener, 'connection') as Promise<[Socket]>;
    const socket = connect({ host: '127.0.0.1', port: (listener.address() as { port: number }).port });
    await once(socket, 'connect');
    const [serverSocket] = await accepted;
    const seen = subscribe(t);
    const serverClosed = once(serverSocket, 'close');
    let hookCalled = false;
    // The hook answers yes once the client has gone (the transport closed under it).
    const authorize = async (): Promise<boolean> => {
      hookCalled = true;
      await serverClosed;
      return true;
    };
    const serving = secureDuplex(serverSocket, { role: 'server', keys: serverKeys.privateKey, authorize });
    serving.catch(() => {});
    const client = await secureDuplex(socket, { role: 'client', serverKey: serverKeys.publicKey });
    await waitUntil(() => hookCalled, 'the hook runs');
    client.destroy();
    await t.throwsAsync(serving, { code: ErrorCode.SESSION_CLOSED });
    const server = seen.asyncEnd.find((c) => c.role === 'server');
    t.is((server?.error as { code?: string } | undefined)?.code, ErrorCode.SESSION_CLOSED);
    t.deepEqual(
      seen.open.map((m) => m.role),
      ['client'],
    );
    await waitUntil(() => seen.close.length === 1, 'the client’s close');
  },
);
