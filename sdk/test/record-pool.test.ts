/**
 * Large records sealed and opened in reused buffers (protocol/record-pool.ts): the pool's own
 * rules, the send pool over real sockets (records in flight are never overwritten), and
 * `session.recycle()` (a recycled message's memory takes a later one; nothing else is touched).
 */
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { TLSSocket } from 'node:tls';
import test from 'ava';
import { Client, cryptoBackends } from '../src/index.js';
import type { Session } from '../src/index.js';
import { RecordPool, sentRecords } from '../src/protocol/record-pool.js';
import { sessionPair } from './helpers/sessions.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { writesAreCopied } from '../src/stream/record-writer.js';
import { startServer } from './helpers/net.js';

test('a pool lends a buffer once and takes it back only through the view it lent, wiped if asked, keeping a bounded number', (t) => {
  const pool = new RecordPool(1024, 2, true);
  const a = pool.take(100);
  t.is(a.length, 100);
  t.true(pool.lends(a));
  a.fill(7);
  pool.release(a.subarray(10, 20)); // another view of it: ignored
  t.true(pool.lends(a));
  const message = a.subarray(10, 20);
  pool.handOver(a, message); // the message is what gives it back now
  t.false(pool.lends(a));
  pool.release(a);
  t.is(pool.free, 0, 'the old holder no longer gives it back');
  pool.release(message);
  t.is(pool.free, 1);
  t.true(
    Buffer.from(a.buffer).every((b) => b === 0),
    'wiped as it came back',
  );
  const b = pool.take(1024);
  t.is(b.buffer, a.buffer, 'the free buffer is lent again');
  pool.release(message); // a second release, the buffer lent again meanwhile: ignored
  t.true(pool.lends(b));
  pool.release(Buffer.alloc(1024)); // not the pool's: ignored
  t.is(pool.free, 0);
  const [c, d, e] = [pool.take(1), pool.take(1), pool.take(1)];
  for (const x of [b, c, d, e]) pool.release(x);
  t.is(pool.free, 2, 'at most `keep` kept');
  t.throws(() => pool.take(1025), { instanceOf: RangeError });
});

test('large records written faster than the peer reads arrive intact over TCP (send pool buffers are reused only once written)', async (t) => {
  const { server, keys } = await startServer();
  t.teardown(() => server.stop());
  const count = 160;
  const messages = Array.from({ length: count }, () => randomBytes(65536));
  const digests = messages.map((m) => createHash('sha256').update(m).digest('hex'));
  const received = new Promise<string[]>((resolve, reject) => {
    server.once('session', (session: Session) => {
      void (async () => {
        const got: string[] = [];
        // Slow at first, so that many records are in flight in the client's socket buffer.
        await new Promise((r) => setTimeout(r, 200));
        for (let i = 0; i < count; i++) {
          const m = await session.read();
          if (m === null) break;
          got.push(createHash('sha256').update(m).digest('hex'));
        }
        resolve(got);
      })().catch(reject);
    });
  });
  const client = Client.create(keys.publicKey, { symmetric: 'ChaCha20-Poly1305' });
  const session = await client.connect(`127.0.0.1:${server.address!.port}`);
  const before = sentRecords.free;
  for (const m of messages) void session.write(m);
  // The caller's buffers are its own again at once: scribbling on them changes nothing sent.
  for (const m of messages) m.fill(0);
  t.deepEqual(await received, digests);
  await session.flushStream();
  // Sealed in place into the pool only where the key can (@secsess/native, libsodium).
  if (cryptoBackends()['chacha20-poly1305'] !== 'node:crypto') {
    t.true(sentRecords.free >= Math.min(before + 1, 32), 'the sealed records came back to the pool');
  }
  await session.close();
});

test('recycle(): a large message given back takes a later one; its own memory is wiped first', async (t) => {
  const { client, server } = await sessionPair({ set: { symmetric: 'ChaCha20-Poly1305' } });
  t.teardown(() => void client.close().catch(() => {}));
  const first = Buffer.alloc(40_000, 1);
  await client.write(first);
  const m1 = (await server.read())!;
  t.true(m1.equals(first));
  server.recycle(m1); // starts the pool: m1 itself was opened into a buffer of its own
  await client.write(Buffer.alloc(40_000, 2));
  const m2 = (await server.read())!;
  t.true(m2.every((b) => b === 2));
  server.recycle(m2);
  t.true(
    Buffer.from(m2.buffer).every((b) => b === 0),
    'a recycled message is wiped',
  );
  await client.write(Buffer.alloc(50_000, 3));
  const m3 = (await server.read())!;
  // Opened in place only where the key can (@secsess/native, libsodium); node:crypto hands
  // out its own buffers.
  if (cryptoBackends()['chacha20-poly1305'] !== 'node:crypto') {
    t.is(m3.buffer, m2.buffer, 'the next large record was opened into the recycled memory');
  }
  t.true(m3.every((b) => b === 3));
  t.is(m3.length, 50_000);
  // A second recycle of m2, whose memory m3 now holds: ignored, m3 is untouched.
  server.recycle(m2);
  t.true(m3.every((b) => b === 3));
});

test('recycle(): messages of one batch record are never pool views, so giving one back spares the others', async (t) => {
  const { client, server } = await sessionPair({ set: { symmetric: 'ChaCha20-Poly1305' } });
  t.teardown(() => void client.close().catch(() => {}));
  server.recycle(Buffer.alloc(0)); // the pool is on from the start
  // Written in one tick: packed into one DataBatch record of more than 16 KiB.
  const parts = [Buffer.alloc(20_000, 4), Buffer.alloc(20_000, 5), Buffer.alloc(100, 6)];
  await Promise.all(parts.map((p) => client.write(p)));
  const a = (await server.read())!;
  server.recycle(a);
  const b = (await server.read())!;
  const c = (await server.read())!;
  t.true(b.equals(parts[1]!));
  t.true(c.equals(parts[2]!));
  t.true(a.equals(parts[0]!), 'not a pool buffer: recycling it wiped nothing');
});

test('recycle() ignores what it does not know, and fragments of a long message come back on their own', async (t) => {
  const { client, server } = await sessionPair({ set: { symmetric: 'ChaCha20-Poly1305' } });
  t.teardown(() => void client.close().catch(() => {}));
  server.recycle(Buffer.from('not a message'));
  const long = randomBytes(300_000); // five records: four DataMore, one Data
  await client.write(long);
  const got = (await server.read())!;
  t.true(got.equals(long));
  const again = randomBytes(300_000);
  await client.write(again);
  t.true((await server.read())!.equals(again));
});

test('a session that never recycles gets every message in a buffer of its own size, fragments or not', async (t) => {
  const { client, server } = await sessionPair({ set: { symmetric: 'ChaCha20-Poly1305' } });
  t.teardown(() => void client.close().catch(() => {}));
  await client.write(randomBytes(300_000)); // fragments: the connection gives their buffers back
  t.is((await server.read())!.length, 300_000);
  await client.write(Buffer.alloc(20_000, 9));
  const m = (await server.read())!;
  t.true(m.every((b) => b === 9));
  t.true(m.buffer.byteLength < 21_000, `a buffer of ${m.buffer.byteLength} bytes for 20 000`);
});

test("a recycled session's pooled message shows nothing past its end: the buffer started zeroed", async (t) => {
  const { client, server } = await sessionPair({ set: { symmetric: 'ChaCha20-Poly1305' } });
  t.teardown(() => void client.close().catch(() => {}));
  server.recycle(Buffer.alloc(0));
  await client.write(Buffer.alloc(20_000, 0xab));
  const m = (await server.read())!;
  t.true(m.every((b) => b === 0xab));
  t.true(Buffer.from(m.buffer, m.byteOffset + m.length).every((b) => b === 0));
});

test('records are pooled only over a plain socket: not an in-memory pair, a PassThrough or TLS', async (t) => {
  const [a] = duplexPair();
  t.false(writesAreCopied(a));
  t.false(writesAreCopied(new PassThrough()));
  const socket = new Socket();
  t.true(writesAreCopied(socket));
  t.false(writesAreCopied(new TLSSocket(new Socket())));
  socket.destroy();
});
