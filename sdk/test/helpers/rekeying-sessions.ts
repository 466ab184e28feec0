/**
 * Two stream sessions over a real TCP connection on 127.0.0.1 whose keys move every
 * `records` records (the internal key budget, which no public option sets): a KeyUpdate each
 * way within a few messages. Destroyed at the test's end.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { Session } from '../../src/index.js';
import { resolveSessionOptions } from '../../src/common/options.js';
import { createSession } from '../../src/stream/session.js';
import { kReady } from '../../src/stream/session-types.js';
import { fixtureKeys } from './keys.js';

const serverKeys = fixtureKeys('server-2048');

/** [client, server]. */
export async function rekeyingSessions(t: ExecutionContext, records: number): Promise<[Session, Session]> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const socket = connect({ host: '127.0.0.1', port: (listener.address() as { port: number }).port });
  await once(socket, 'connect');
  const [serverSocket] = await accepted;
  const keyBudget = { records, bytes: 2 ** 40 };
  const options = resolveSessionOptions({});
  const server = createSession(
    serverSocket,
    { role: 'server', connection: { keys: [serverKeys.privateKey], keyBudget } },
    options,
  );
  const client = createSession(
    socket,
    { role: 'client', connection: { serverKey: serverKeys.publicKey, keyBudget } },
    options,
  );
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  await Promise.all([client[kReady], server[kReady]]);
  return [client, server];
}
