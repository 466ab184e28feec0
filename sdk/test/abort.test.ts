import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import test from 'ava';
import { Client, ErrorCode, SessionError } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { startServer, waitUntil } from './helpers/net.js';

test('connect with an aborted signal rejects with ERR_ABORTED before any I/O', async (t) => {
  const client = Client.create(fixtureKeys().publicKey);
  const reason = new Error('not now');
  const err = await t.throwsAsync(client.connect('127.0.0.1:9', { signal: AbortSignal.abort(reason) }), {
    instanceOf: SessionError,
  });
  t.is(err?.code, ErrorCode.ABORTED);
  t.is(err?.message, 'connect aborted');
  t.is(err?.cause, reason);
  t.is(client.session, null);
});

test('aborting connect during the handshake rejects with ERR_ABORTED and drops the connection', async (t) => {
  const sockets: Socket[] = [];
  const mute = createServer((s) => sockets.push(s.resume()));
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    mute.close();
  });
  const { port } = mute.address() as { port: number };
  const controller = new AbortController();
  const client = Client.create(fixtureKeys().publicKey);
  const connecting = client.connect(`127.0.0.1:${port}`, { signal: controller.signal });
  connecting.catch(() => {});
  // The TCP connection is up and the hello sent once the session exists.
  await waitUntil(() => client.session !== null && sockets.length === 1, 'the handshake started');
  const gone = new Promise((resolve) => sockets[0]!.once('close', resolve));
  controller.abort();
  const err = await t.throwsAsync(connecting, { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.ABORTED);
  t.is(err?.message, 'handshake aborted');
  await gone;
  t.is(client.session?.state, 'closed');
});

test('aborting acceptClient rejects it with ERR_ABORTED; the next session goes to the next caller', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const controller = new AbortController();
  const first = server.acceptClient({ signal: controller.signal });
  const second = server.acceptClient();
  controller.abort();
  await t.throwsAsync(first, { code: ErrorCode.ABORTED, message: 'acceptClient aborted' });
  const client = makeClient();
  await client.connect(endpoint);
  await client.write('to the second');
  t.is((await (await second).read())?.toString(), 'to the second');
  await client.close();
});

test('aborting a read on a TCP session leaves the session open', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = server.acceptClient();
  const client = makeClient();
  await client.connect(endpoint);
  const session = await accepted;
  const read = client.read({ signal: AbortSignal.timeout(20) });
  const err = await t.throwsAsync(read, { code: ErrorCode.ABORTED });
  t.is((err?.cause as Error).name, 'TimeoutError');
  await session.write('later');
  t.is((await client.read())?.toString(), 'later');
  await client.close();
});
