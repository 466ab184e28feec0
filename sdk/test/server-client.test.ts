import { randomBytes } from 'node:crypto';
import test from 'ava';
import {
  Client,
  ErrorCode,
  Hash,
  PublicKey,
  SecsessError,
  Server,
  SessionError,
  Symmetric,
} from '../src/index.js';
import type { Session } from '../src/index.js';
import { fixtureKeys, keyFiles } from './helpers/keys.js';
import { echo, echoSessions, startServer } from './helpers/net.js';

test('the SecSess flow: acceptClient, read/write/flushStream on the client, close, stop', async (t) => {
  const files = await keyFiles();
  t.teardown(files.cleanup);
  const server = Server.create('127.0.0.1:0', files.key, { symmetric: Symmetric.AES, hash: Hash.SHA256 });
  await server.start();
  const serving = (async () => {
    const accepted = await server.acceptClient();
    for (let i = 0; i < 100; i++) {
      const buffer = await accepted.read();
      if (buffer === null) throw new Error('early end');
      await accepted.write(buffer);
      await accepted.flushStream();
    }
    return accepted;
  })();
  const client = Client.create(files.pub, { symmetric: Symmetric.AES, hash: Hash.SHA256 });
  await client.connect(server.address!);
  let buffer: Buffer = randomBytes(1024);
  const check = Buffer.from(buffer);
  for (let i = 0; i < 100; i++) {
    await client.write(buffer);
    buffer = (await client.read())!;
    await client.flushStream();
  }
  t.deepEqual(buffer, check);
  const accepted = await serving;
  t.is(accepted.suite?.symmetric, 'AES-256-CBC');
  t.true(accepted.serverKey?.equals(await PublicKey.load(files.pub)));
  t.is(accepted.clientKey, null);
  await client.close();
  t.is(await accepted.read(), null);
  await server.stop();
  t.is(server.address, null);
});

test('the events API: session event, message events, async iteration on the client', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const seen: string[] = [];
  server.on('session', (session) => {
    session.on('message', (m) => {
      seen.push(m.toString());
      void session.write(m.toString().toUpperCase());
    });
  });
  const client = makeClient();
  const session = await client.connect(endpoint);
  for (const word of ['alpha', 'beta', 'gamma']) await session.write(word);
  const replies: string[] = [];
  for await (const m of session) {
    replies.push(m.toString());
    if (replies.length === 3) break;
  }
  t.deepEqual(replies, ['ALPHA', 'BETA', 'GAMMA']);
  t.deepEqual(seen, ['alpha', 'beta', 'gamma']);
  // Leaving the loop does not close the session.
  t.is(session.state, 'open');
  await session.close();
});

test('serves 50 concurrent clients, each seeing only its own echoes', async (t) => {
  // All from one address at once: past the per-address burst (32) the rate limit would turn
  // some away to retry, which is the admission tests' subject, not this one's.
  const { server, client: makeClient, endpoint } = await startServer({ workers: 2, handshakeRate: 0 });
  t.teardown(() => server.stop());
  echoSessions(server);
  await Promise.all(
    Array.from({ length: 50 }, async (_, n) => {
      const client = makeClient();
      await client.connect(endpoint);
      for (let i = 0; i < 10; i++) {
        const message = Buffer.from(`client ${n} message ${i}`);
        await client.write(message);
        t.deepEqual(await client.read(), message);
      }
      await client.close();
    }),
  );
  t.is(server.handshakeCount, 0);
});

test('carries messages from 0 bytes to 16 MiB intact', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  echoSessions(server);
  const client = makeClient();
  await client.connect(endpoint);
  const sizes = [0, 1, 65531, 65532, 65535, 65536, 65537, 1 << 20, 16 * 1024 * 1024];
  for (const size of sizes) {
    const message = randomBytes(size);
    await client.write(message);
    const back = await client.read();
    t.is(back?.length, size);
    t.true(back?.equals(message), `${size} bytes`);
  }
  await client.close();
});

test('accepts sessions queued before acceptClient is called, in order of establishment', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const clients = [makeClient(), makeClient(), makeClient()];
  for (const [i, c] of clients.entries()) {
    await c.connect(endpoint);
    await c.write(`hello from ${i}`);
  }
  for (let i = 0; i < 3; i++) {
    const s = await server.acceptClient();
    t.is((await s.read())?.toString(), `hello from ${i}`);
  }
  await Promise.all(clients.map((c) => c.close()));
});

test('a full accept queue closes new sessions with code 1013', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer({ maxPendingSessions: 1 });
  t.teardown(() => server.stop());
  const first = makeClient();
  await first.connect(endpoint);
  const second = makeClient();
  const session = await second.connect(endpoint);
  const err = await t.throwsAsync(session.read(), { code: ErrorCode.CLOSED_BY_PEER });
  t.is((err as unknown as { closeCode: number }).closeCode, 1013);
  t.is(session.closeReason, 'server busy');
  t.is(first.session?.state, 'open');
  await first.close();
});

test('a closed session leaves sessionCount before what awaits its closed promise runs, not during its close event', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const client = makeClient();
  const accepting = server.acceptClient();
  await client.connect(endpoint);
  const accepted = await accepting;
  t.is(server.sessionCount, 1);
  const seen: string[] = [];
  accepted.on('close', () => seen.push(`close event: ${server.sessionCount}`));
  const awaited = accepted.closed.then(() => seen.push(`closed resolved: ${server.sessionCount}`));
  await client.close();
  await awaited;
  t.deepEqual(seen, ['close event: 1', 'closed resolved: 0']);
});

test('closed asked for only after the session ended resolves, and is the same promise every time', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const client = makeClient();
  const accepting = server.acceptClient();
  const session = await client.connect(endpoint);
  const accepted = await accepting;
  const ended = new Promise<void>((resolve) => accepted.once('close', () => resolve()));
  await session.close();
  await ended;
  t.is(server.sessionCount, 0);
  t.is(accepted.closed, accepted.closed);
  await accepted.closed;
  t.is(accepted.state, 'closed');
  t.is(accepted.closeCode, 1000);
});

test('a server holding two keys (rotation) accepts clients that trust either', async (t) => {
  const current = fixtureKeys('server-2048');
  const next = fixtureKeys('other-2048');
  const server = Server.create('127.0.0.1:0', [current.privateKey, next.privateKey], undefined, {
    workers: 1,
  });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  for (const keys of [current, next]) {
    const client = Client.create(keys.publicKey);
    const session = await client.connect(server.address!);
    t.true(session.serverKey?.equals(keys.publicKey));
    await client.write('x');
    t.is((await client.read())?.toString(), 'x');
    await client.close();
  }
});

test('a client trusting another key fails with ERR_SERVER_KEY_MISMATCH; the server reports it', async (t) => {
  const { server, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const reported = new Promise<[SessionError, { address?: string }]>((resolve) =>
    server.once('handshakeError', (err, remote) => resolve([err, remote])),
  );
  const client = Client.create(fixtureKeys('other-2048').publicKey);
  const err = await t.throwsAsync(client.connect(endpoint), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.SERVER_KEY_MISMATCH);
  const [serverErr, remote] = await reported;
  t.is(serverErr.code, ErrorCode.SERVER_KEY_MISMATCH);
  t.is(remote.address, '127.0.0.1');
  t.true(server.listening);
  // Reloading an authorizedKeys file the server does not have is a state error too.
  await t.throwsAsync(server.reloadAuthorizedKeys(), {
    instanceOf: SecsessError,
    code: ErrorCode.INVALID_STATE,
    message: /no authorizedKeys file/,
  });
});

test('a set the server does not accept fails with ERR_SUITE_MISMATCH on both sides', async (t) => {
  const keys = fixtureKeys();
  const server = Server.create(
    '127.0.0.1:0',
    keys.privateKey,
    [{ hash: Hash.SHA512 }, { hash: Hash.SHA384 }],
    {
      workers: 0,
    },
  );
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  const serverSide = new Promise<SessionError>((resolve) => server.once('handshakeError', resolve));
  const client = Client.create(keys.publicKey, { hash: Hash.SHA256 });
  await t.throwsAsync(client.connect(server.address!), {
    instanceOf: SessionError,
    code: ErrorCode.SUITE_MISMATCH,
  });
  t.is((await serverSide).code, ErrorCode.SUITE_MISMATCH);
  // An accepted set still works.
  const good = Client.create(keys.publicKey, { hash: Hash.SHA384 });
  const session = await good.connect(server.address!);
  t.is(session.suite?.hash, 'SHA-384');
  await good.close();
});

test('the client delegates to its session and refuses a second connect while connected', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  echoSessions(server);
  const client = makeClient();
  await t.throwsAsync(client.read(), { code: ErrorCode.SESSION_CLOSED, message: /not connected/ });
  await t.throwsAsync(client.write('x'), { code: ErrorCode.SESSION_CLOSED });
  await client.close();
  const connecting = client.connect(endpoint);
  const during = await t.throwsAsync(client.connect(endpoint), {
    instanceOf: SecsessError,
    code: ErrorCode.INVALID_STATE,
    message: /already connecting/,
  });
  t.true(during instanceof SessionError);
  const first = await connecting;
  await t.throwsAsync(client.connect(endpoint), {
    instanceOf: SecsessError,
    code: ErrorCode.INVALID_STATE,
    message: /already connected/,
  });
  await client.close();
  const second = await client.connect(endpoint);
  t.not(first, second);
  t.is(client.session, second);
  await client.write('again');
  t.is((await client.read())?.toString(), 'again');
  await client.close();
});

test('one session failing does not disturb the others', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const sessions: Session[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    void echo(s);
  });
  const a = makeClient();
  const b = makeClient();
  await a.connect(endpoint);
  await b.connect(endpoint);
  a.session!.destroy();
  await b.write('unaffected');
  t.is((await b.read())?.toString(), 'unaffected');
  await b.close();
  t.true(server.listening);
});

test('Server.create and Client.create validate their arguments', (t) => {
  const keys = fixtureKeys();
  t.throws(() => Server.create('127.0.0.1:0', 42 as never), {
    instanceOf: TypeError,
    message: 'privateKey must be a PrivateKey, a key file path, { path, passphrase }, or an array of them',
  });
  t.throws(() => Server.create('127.0.0.1:0', []), { instanceOf: TypeError });
  t.throws(() => Server.create('127.0.0.1:0', keys.privateKey, []), { instanceOf: TypeError });
  t.throws(() => Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: -1 }), {
    instanceOf: RangeError,
  });
  t.throws(() => Server.create('127.0.0.1:0', keys.privateKey, undefined, { closeTimeout: 1.5 }), {
    instanceOf: TypeError,
    message: 'closeTimeout must be an integer',
  });
  t.throws(() => Client.create(keys.privateKey as never), { instanceOf: TypeError });
  t.throws(() => Client.create(keys.publicKey, { symmetric: 'DES' as never }), { instanceOf: TypeError });
  t.throws(() => Client.create(keys.publicKey, {}, { connectTimeout: 0 }), { instanceOf: RangeError });
});

test('start rejects with ERR_TRANSPORT when the port is taken, and with KeyError for a missing key file', async (t) => {
  const { server, port } = await startServer();
  t.teardown(() => server.stop());
  const clash = Server.create(`127.0.0.1:${port}`, fixtureKeys().privateKey, undefined, { workers: 1 });
  const err = await t.throwsAsync(clash.start(), { instanceOf: SessionError, code: ErrorCode.TRANSPORT });
  t.regex(err!.message, /EADDRINUSE/);
  t.false(clash.listening);
  // A second start() of a running server is a coded state error, not a plain Error.
  await t.throwsAsync(server.start(), {
    instanceOf: SecsessError,
    code: ErrorCode.INVALID_STATE,
    message: /already listening/,
  });
  t.true(server.listening);
  const missing = Server.create('127.0.0.1:0', '/nonexistent/server.key');
  await t.throwsAsync(missing.start(), { code: 'ERR_KEY_FILE_NOT_FOUND' });
});

test('connect rejects with ERR_TRANSPORT when nothing listens', async (t) => {
  const { server, port, client: makeClient } = await startServer();
  await server.stop();
  const err = await t.throwsAsync(makeClient().connect(`127.0.0.1:${port}`), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.TRANSPORT);
  t.is((err?.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});
