import { once } from 'node:events';
import test from 'ava';
import {
  CLOSE_ABNORMAL,
  ErrorCode,
  PeerClosedError,
  SessionError,
  TimeoutError,
  secureDuplex,
} from '../src/index.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { fixtureKeys } from './helpers/keys.js';
import { numbered } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

test('delivers messages whole and in order both ways, empty ones included', async (t) => {
  const { client, server } = await sessionPair();
  const sizes = [0, 1, 15, 16, 17, 1000, 65532, 65536, 65537, 200_000, 0];
  for (const [i, size] of sizes.entries()) void client.write(numbered(i, size));
  for (const [i, size] of sizes.entries()) t.deepEqual(await server.read(), numbered(i, size));
  await server.write('reply');
  t.is((await client.read())?.toString(), 'reply');
  await client.close();
});

test('keeps the order of writes issued in one tick and packs them into shared records', async (t) => {
  const { client, server, clientEnd } = await sessionPair();
  const before = clientEnd.written;
  const writes = Array.from({ length: 1000 }, (_, i) => client.write(numbered(i, 8)));
  await Promise.all(writes);
  for (let i = 0; i < 1000; i++) t.deepEqual(await server.read(), numbered(i, 8));
  // One record per message would cost at least header + IV + MAC (4 + 16 + 32 bytes) each.
  t.true(clientEnd.written - before < 1000 * 52, `${clientEnd.written - before} bytes on the wire`);
  await client.close();
});

test('serves several pending reads in call order', async (t) => {
  const { client, server } = await sessionPair();
  const reads = [server.read(), server.read(), server.read()];
  await client.write('a');
  await client.write('b');
  await client.write('c');
  t.deepEqual((await Promise.all(reads)).map(String), ['a', 'b', 'c']);
  await client.close();
});

test('read resolves null after a normal close once queued messages are read', async (t) => {
  const { client, server } = await sessionPair();
  await client.write('last words');
  const closing = client.close();
  const closed = once(server, 'close');
  t.is((await server.read())?.toString(), 'last words');
  t.is(await server.read(), null);
  t.is(await server.read(), null);
  await closing;
  t.deepEqual(await closed, [1000, '']);
  t.is(client.closeCode, 1000);
  t.is(await client.read(), null);
  t.is(server.state, 'closed');
});

test('read rejects with PeerClosedError when the peer closes with another code', async (t) => {
  const { client, server } = await sessionPair();
  const pending = server.read();
  await client.close(4001, 'done here');
  const err = await t.throwsAsync(pending, { instanceOf: PeerClosedError });
  t.is(err?.code, ErrorCode.CLOSED_BY_PEER);
  t.is(err?.closeCode, 4001);
  t.is(err?.reason, 'done here');
  t.is(server.closeCode, 4001);
  t.is(server.closeReason, 'done here');
  // Our own close's echo is a normal end for us.
  t.is(await client.read(), null);
});

test('queues messages while nobody listens, then hands them to a message listener added later', async (t) => {
  const { client, server } = await sessionPair();
  await client.write('one');
  await client.write('two');
  await client.flushStream();
  await new Promise((resolve) => setImmediate(resolve));
  t.is(server.readableLength, 6);
  const got: string[] = [];
  const done = new Promise<void>((resolve) => {
    server.on('message', (m) => {
      got.push(m.toString());
      if (got.length === 3) resolve();
    });
  });
  await client.write('three');
  await done;
  t.deepEqual(got, ['one', 'two', 'three']);
  t.is(server.readableLength, 0);
  await client.close();
});

test('within one batch record: a once listener takes the first message, a listener that leaves mid-batch its share, the rest waits for read() in order', async (t) => {
  const { client, server } = await sessionPair();
  const heard: string[] = [];
  server.once('message', (m) => heard.push(`once:${m.toString()}`));
  let left!: () => void;
  const gone = new Promise<void>((resolve) => (left = resolve));
  const listener = (m: Buffer): void => {
    heard.push(m.toString());
    if (heard.length === 3) {
      server.off('message', listener);
      left();
    }
  };
  server.on('message', listener);
  // Written in one tick: one DataBatch record (see 'keeps the order of writes issued in one tick').
  await Promise.all(['a', 'b', 'c', 'd', 'e'].map((m) => client.write(m)));
  await gone;
  t.is(server.readableLength, 3, 'the rest of the batch is queued');
  const read = await Promise.all([server.read(), server.read(), server.read()]);
  t.deepEqual(
    read.map((m) => m?.toString()),
    ['c', 'd', 'e'],
  );
  t.deepEqual(heard, ['once:a', 'a', 'b']);
  t.is(server.readableLength, 0);
  await client.close();
});

test("a listener that transfers a batched message's ArrayBuffer fails its session with ERR_INVALID_STATE saying so; the other session is unaffected", async (t) => {
  const { client, server } = await sessionPair();
  const other = await sessionPair();
  const got: string[] = [];
  const failed = new Promise<SessionError>((resolve) =>
    server.once('error', (e) => resolve(e as SessionError)),
  );
  server.on('message', (m) => {
    got.push(m.toString());
    if (got.length === 1) structuredClone(m.buffer, { transfer: [m.buffer as ArrayBuffer] });
  });
  await Promise.all(['a', 'b', 'c'].map((m) => client.write(m)));
  const err = await failed;
  t.is(err.code, ErrorCode.INVALID_STATE);
  t.regex(err.message, /transfer a copy/);
  t.deepEqual(got, ['a']);
  await other.client.write('still here');
  t.is((await other.server.read())?.toString(), 'still here');
  await other.client.close();
});

test('a pending read takes precedence over message listeners', async (t) => {
  const { client, server } = await sessionPair();
  const heard: string[] = [];
  server.on('message', (m) => heard.push(m.toString()));
  const read = server.read();
  await client.write('for the reader');
  t.is((await read)?.toString(), 'for the reader');
  await client.write('for the listener');
  await client.close();
  t.deepEqual(heard, ['for the listener']);
});

test('replies written inside a message listener go out before the peer close that follows', async (t) => {
  const { client, server } = await sessionPair();
  server.on('message', (m) => void server.write(m).catch(() => {}));
  for (let i = 0; i < 20; i++) void client.write(numbered(i, 100));
  const closing = client.close();
  for (let i = 0; i < 20; i++) t.deepEqual(await client.read(), numbered(i, 100));
  t.is(await client.read(), null);
  await closing;
});

test('write after close rejects with ERR_SESSION_CLOSED, and so does write during closing', async (t) => {
  const { client, server } = await sessionPair();
  const closing = client.close();
  const during = await t.throwsAsync(client.write('late'), { instanceOf: SessionError });
  t.is(during?.code, ErrorCode.SESSION_CLOSED);
  await closing;
  const after = await t.throwsAsync(client.write('later'), { instanceOf: SessionError });
  t.is(after?.code, ErrorCode.SESSION_CLOSED);
  t.is(after?.message, 'session is closed');
  await server.closed;
  await t.throwsAsync(server.write('x'), { code: ErrorCode.SESSION_CLOSED });
});

test('emits error at most once, then close, and rejects pending reads with the same error', async (t) => {
  const { client, server, serverEnd } = await sessionPair();
  const events: string[] = [];
  const errors: SessionError[] = [];
  client.on('error', (e) => {
    events.push('error');
    errors.push(e);
  });
  client.on('close', (code) => events.push(`close ${code}`));
  const closed = new Promise((resolve) => client.once('close', resolve));
  const pending = client.read();
  // A forged record straight onto the wire: type Record, a plausible length, random body.
  const forged = Buffer.alloc(4 + 96, 0xab);
  forged[0] = 0x17;
  forged.writeUIntBE(96, 1, 3);
  serverEnd.write(forged);
  serverEnd.write(forged);
  const err = await t.throwsAsync(pending, { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.RECORD_AUTH);
  t.is(err?.message, 'record rejected: authentication failed');
  await closed;
  t.deepEqual(events, ['error', `close ${CLOSE_ABNORMAL}`]);
  t.is(errors[0], err);
  t.is(client.closeCode, CLOSE_ABNORMAL);
  // The server got the client's alert.
  await t.throwsAsync(server.read(), { code: ErrorCode.RECORD_AUTH, message: 'peer rejected a record' });
});

test('a failing session without error listeners does not throw', async (t) => {
  const { client, serverEnd } = await sessionPair();
  serverEnd.write(Buffer.from([0x17, 0, 0, 64, ...Buffer.alloc(64)]));
  await client.closed;
  t.is(client.state, 'closed');
  await t.throwsAsync(client.read(), { code: ErrorCode.RECORD_AUTH });
});

test('a peer that ends the transport without a close makes reads fail with ERR_TRUNCATED', async (t) => {
  const { client, server, serverEnd } = await sessionPair();
  await server.write('before');
  serverEnd.end();
  t.is((await client.read())?.toString(), 'before');
  const err = await t.throwsAsync(client.read(), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.TRUNCATED);
  await t.throwsAsync(client.write('x'), { code: ErrorCode.SESSION_CLOSED });
});

test('destroy drops the transport: the peer sees ERR_TRUNCATED, we see no error event', async (t) => {
  const { client, server } = await sessionPair();
  let errored = false;
  client.on('error', () => {
    errored = true;
  });
  client.destroy();
  await t.throwsAsync(server.read(), { code: ErrorCode.TRUNCATED });
  await t.throwsAsync(client.read(), { code: ErrorCode.SESSION_CLOSED, message: 'session destroyed' });
  t.false(errored);
});

test('writes nobody awaits never become unhandled rejections when the session fails', async (t) => {
  const { client, server } = await sessionPair();
  server.destroy();
  void client.write('queued in this tick, rejected when the session fails');
  await t.throwsAsync(client.read(), { code: ErrorCode.TRUNCATED });
  void client.write('after the end');
  void client.flushStream();
  await new Promise((resolve) => setImmediate(resolve));
  await t.throwsAsync(client.flushStream(), { code: ErrorCode.SESSION_CLOSED });
});

test('aborting a read rejects it with ERR_ABORTED and leaves the session usable', async (t) => {
  const { client, server } = await sessionPair();
  const controller = new AbortController();
  const read = server.read({ signal: controller.signal });
  controller.abort(new Error('changed my mind'));
  const err = await t.throwsAsync(read, { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.ABORTED);
  t.is((err?.cause as Error).message, 'changed my mind');
  await t.throwsAsync(server.read({ signal: AbortSignal.abort() }), { code: ErrorCode.ABORTED });
  await client.write('still here');
  t.is((await server.read())?.toString(), 'still here');
  await t.throwsAsync(server.read({ signal: 'nope' as unknown as AbortSignal }), { instanceOf: TypeError });
  await client.close();
});

test('flushStream resolves once written records reached the transport', async (t) => {
  const { client, clientEnd } = await sessionPair();
  const before = clientEnd.written;
  void client.write(Buffer.alloc(5000));
  t.is(clientEnd.written, before);
  await client.flushStream();
  t.true(clientEnd.written > before + 5000);
  t.is(client.bufferedAmount, 0);
  await client.close();
  await client.flushStream();
});

test('write and close validate their arguments', async (t) => {
  const { client } = await sessionPair();
  await t.throwsAsync(client.write(42 as unknown as string), {
    instanceOf: TypeError,
    message: 'data must be a Buffer, a Uint8Array or a string',
  });
  await t.throwsAsync(client.close(70000), { instanceOf: RangeError });
  await t.throwsAsync(client.close(1000, 'x'.repeat(124)), { instanceOf: RangeError });
  await client.write(new Uint8Array([1, 2, 3]));
  await client.close();
});

test('the async iterator yields every message and ends at a normal close', async (t) => {
  const { client, server } = await sessionPair();
  for (let i = 0; i < 10; i++) void client.write(`m${i}`);
  void client.close();
  const got: string[] = [];
  for await (const m of server) got.push(m.toString());
  t.deepEqual(
    got,
    Array.from({ length: 10 }, (_, i) => `m${i}`),
  );
});

test('a handshake that never completes fails with a handshake TimeoutError', async (t) => {
  const [end] = duplexPair();
  const err = await t.throwsAsync(
    secureDuplex(end, { role: 'client', serverKey: fixtureKeys().publicKey, handshakeTimeout: 50 }),
    { instanceOf: TimeoutError },
  );
  t.is(err?.code, ErrorCode.TIMEOUT);
  t.is(err?.limit, 'handshake');
  t.is(err?.message, 'handshake timed out after 50 ms');
  t.true(end.destroyed);
});

test('secureDuplex checks its arguments', async (t) => {
  const [end] = duplexPair();
  const keys = fixtureKeys();
  await t.throwsAsync(secureDuplex({} as never, { role: 'client', serverKey: keys.publicKey }), {
    instanceOf: TypeError,
    message: 'transport must be a Duplex stream or a { readable, writable } pair of streams',
  });
  await t.throwsAsync(secureDuplex(end, { role: 'peer' } as never), {
    instanceOf: TypeError,
    message: /role/,
  });
  await t.throwsAsync(secureDuplex(end, { role: 'client', serverKey: 42 as never }), {
    instanceOf: TypeError,
    message: 'options.serverKey must be a PublicKey or a key file path',
  });
  await t.throwsAsync(secureDuplex(end, { role: 'server', keys: [] }), { instanceOf: TypeError });
  await t.throwsAsync(secureDuplex(end, { role: 'client', serverKey: keys.publicKey, handshakeTimeout: 0 }), {
    instanceOf: RangeError,
  });
  await t.throwsAsync(
    secureDuplex(end, {
      role: 'client',
      serverKey: keys.publicKey,
      idleTimeout: 100,
      keepAliveInterval: 100,
    }),
    { instanceOf: TypeError, message: /keepAliveInterval must be below idleTimeout/ },
  );
  await t.throwsAsync(
    secureDuplex(end, { role: 'client', serverKey: keys.publicKey, set: { hash: 'MD5' as never } }),
    {
      instanceOf: TypeError,
      message: /set.hash must be one of/,
    },
  );
});

test('keepalive pings keep a quiet session open; a peer that stops reading hits the idle limit', async (t) => {
  // A wide idle window (20 pings) so a loaded CI machine's timer delays cannot close it;
  // the assertion is structural: the session outlives a whole idle window only because of pings.
  const { client, server, serverEnd } = await sessionPair({ idleTimeout: 2000, keepAliveInterval: 100 });
  // Session timers are unref'd and an in-memory pair holds no handle: keep the process up.
  const hold = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(hold));
  // More than one idle window of silence: only pings and pongs flow.
  await new Promise((resolve) => setTimeout(resolve, 2600));
  t.is(client.state, 'open');
  await client.write('alive');
  t.is((await server.read())?.toString(), 'alive');
  // The server stops reading: no more pongs.
  serverEnd.pause();
  const err = await t.throwsAsync(client.read(), { instanceOf: TimeoutError });
  t.is(err?.limit, 'idle');
  t.is(err?.code, ErrorCode.TIMEOUT);
});
