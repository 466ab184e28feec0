/**
 * Half-close (PROTOCOL.md §5 "Half-close (End)") through the Session API: `end()`, the
 * `'end'` event, `read()` → null at the peer's End, `writableEnded` / `readableEnded`,
 * ERR_WRITE_AFTER_END, the close both ends lead to, and `stream()` as a half-open Duplex —
 * over real TCP on 127.0.0.1 and over an in-memory pair.
 */
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { ErrorCode, SessionError } from '../src/index.js';
import type { Session } from '../src/index.js';
import { startServer, waitUntil } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

/** Every message until the peer's End (or a normal close), concatenated. */
async function readAll(session: Session): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const message of session) parts.push(message);
  return Buffer.concat(parts);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('over TCP: the client sends a request and ends; the server reads to null, replies 5 MB and ends; both close 1000', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const reply = randomBytes(5 * 1024 * 1024 + 3);
  const serving = (async () => {
    const s = await server.acceptClient();
    const request = await readAll(s);
    t.true(s.readableEnded);
    t.false(s.writableEnded);
    t.is(s.state, 'open', 'the server may still answer after the client ended');
    // The reply in 64 KiB messages, then our End.
    for (let at = 0; at < reply.length; at += 65536) await s.write(reply.subarray(at, at + 65536));
    await s.end();
    t.true(s.writableEnded);
    await s.closed;
    return { request, code: s.closeCode, reason: s.closeReason };
  })();
  const session = await makeClient().connect(endpoint);
  let ended = 0;
  session.on('end', () => ended++);
  await session.write('GET /five-megabytes');
  await session.write('');
  await session.write('please');
  await session.end();
  t.true(session.writableEnded);
  t.false(session.readableEnded);
  const err = await t.throwsAsync(session.write('more'), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.WRITE_AFTER_END);
  const got = await readAll(session);
  t.is(got.length, reply.length);
  t.is(sha(got), sha(reply));
  t.is(await session.read(), null);
  t.true(session.readableEnded);
  await session.closed;
  t.is(ended, 1, "'end' follows the last read (on the next tick)");
  t.is(session.closeCode, 1000);
  t.is(session.closeReason, '');
  const served = await serving;
  t.is(served.request.toString(), 'GET /five-megabytesplease');
  t.is(served.code, 1000);
  t.is(served.reason, '');
});

test('over TCP: stream() half-closes — pipeline(upload, view) ends our half, the server answers through its view and ends', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const upload = randomBytes(2 * 1024 * 1024 + 5);
  const serving = (async () => {
    const s = await server.acceptClient();
    // Echo through the view: our readable ends at the client's End, which ends the
    // transform, whose end ends our writable half: both ended, the session closes itself.
    const reverse = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        callback(null, chunk);
      },
    });
    await pipeline(s.stream(), reverse, s.stream());
    await s.closed;
    return s.closeCode;
  })();
  const session = await makeClient().connect(endpoint);
  const view = session.stream();
  const echoed: Buffer[] = [];
  const chunks = Array.from({ length: 64 }, (_, i) =>
    upload.subarray(Math.floor((i * upload.length) / 64), Math.floor(((i + 1) * upload.length) / 64)),
  );
  await Promise.all([
    pipeline(Readable.from(chunks), view),
    pipeline(
      view,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          echoed.push(chunk);
          callback();
        },
      }),
    ),
  ]);
  t.is(sha(Buffer.concat(echoed)), sha(upload));
  await session.closed;
  t.is(session.closeCode, 1000);
  t.is(await serving, 1000);
});

test("at the peer's End queued messages are still read, then null, then 'end' is emitted once", async (t) => {
  const { client, server } = await sessionPair();
  await client.write('one');
  await client.write('two');
  const ended = once(server, 'end');
  await client.end();
  await waitUntil(() => server.readableEnded, 'the End has arrived');
  t.false(client.readableEnded);
  t.is(String(await server.read()), 'one');
  t.is(String(await server.read()), 'two');
  t.is(await server.read(), null);
  t.is(await server.read(), null);
  await ended;
  // Its own direction still flows.
  await server.write('still here');
  t.is(String(await client.read()), 'still here');
  t.is(server.state, 'open');
  t.is(client.state, 'open');
  await server.end();
  await Promise.all([client.closed, server.closed]);
  t.is(client.closeCode, 1000);
  t.is(server.closeCode, 1000);
  t.is(await client.read(), null);
});

test('end() is idempotent, sends after what was written, and write() after it rejects with ERR_WRITE_AFTER_END', async (t) => {
  const { client, server } = await sessionPair();
  void client.write('a');
  void client.write('b');
  const first = client.end();
  const second = client.end();
  await Promise.all([first, second]);
  await client.end();
  const err = await t.throwsAsync(client.write('c'), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.WRITE_AFTER_END);
  t.deepEqual([await server.read(), await server.read(), await server.read()].map(String), [
    'a',
    'b',
    'null',
  ]);
  t.is(client.state, 'open');
  await client.close();
  // After the close end() keeps resolving (it was sent); write() still reports the end.
  await client.end();
  t.is(
    (await t.throwsAsync(client.write('d'), { instanceOf: SessionError }))?.code,
    ErrorCode.WRITE_AFTER_END,
  );
});

test('end() on a session that is not open rejects with ERR_SESSION_CLOSED', async (t) => {
  const { client, server } = await sessionPair();
  await client.close();
  const err = await t.throwsAsync(client.end(), { instanceOf: SessionError });
  t.is(err?.code, ErrorCode.SESSION_CLOSED);
  t.is((await t.throwsAsync(server.end(), { instanceOf: SessionError }))?.code, ErrorCode.SESSION_CLOSED);
  t.false(client.writableEnded);
});

test('ends that cross close the session normally on both sides', async (t) => {
  const { client, server } = await sessionPair();
  await Promise.all([client.write('to server'), server.write('to client')]);
  await Promise.all([client.end(), server.end()]);
  t.is(String(await server.read()), 'to server');
  t.is(String(await client.read()), 'to client');
  t.is(await server.read(), null);
  t.is(await client.read(), null);
  await Promise.all([client.closed, server.closed]);
  t.deepEqual(
    [client.closeCode, client.closeReason, server.closeCode, server.closeReason],
    [1000, '', 1000, ''],
  );
});

test('a close without End still ends the session at once; the peer reads null and needs no end()', async (t) => {
  const { client, server } = await sessionPair();
  await client.write('bye');
  await client.close();
  t.is(String(await server.read()), 'bye');
  t.is(await server.read(), null);
  t.false(server.readableEnded, 'readableEnded is for End only');
  t.is(server.closeCode, 1000);
});

test('Client.end() ends the current session; before connect() it rejects with ERR_SESSION_CLOSED', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const client = makeClient();
  t.is((await t.throwsAsync(client.end(), { instanceOf: SessionError }))?.code, ErrorCode.SESSION_CLOSED);
  const accepted = server.acceptClient();
  const session = await client.connect(endpoint);
  const s = await accepted;
  await client.write('last');
  await client.end();
  t.true(session.writableEnded);
  t.is(String(await s.read()), 'last');
  t.is(await s.read(), null);
  await s.end();
  await session.closed;
  t.is(session.closeCode, 1000);
});

test("'message' listeners get every message before 'end'", async (t) => {
  const { client, server } = await sessionPair();
  const seen: string[] = [];
  server.on('message', (m) => seen.push(String(m)));
  const ended = new Promise<void>((resolve) =>
    server.once('end', () => {
      seen.push('end');
      resolve();
    }),
  );
  void client.write('a');
  void client.write('b');
  await client.end();
  await ended;
  t.deepEqual(seen, ['a', 'b', 'end']);
  await server.close();
});
