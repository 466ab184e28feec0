/**
 * The client's socket reads into one buffer shared by the thread (stream/borrowed-reads.ts):
 * what the session hands out must be the application's to keep, whatever is read after it.
 */
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import test from 'ava';
import { Client, borrowReads, connectBorrowing, readBorrowed, secureDuplex } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import type { Session } from '../src/index.js';
import { startServer } from './helpers/net.js';

for (const symmetric of ['AES-256-CBC', 'AES-256-GCM', 'ChaCha20-Poly1305'] as const) {
  test(`${symmetric}: messages kept by the application survive the reads after them, two clients at once`, async (t) => {
    const { server, keys } = await startServer();
    t.teardown(() => server.stop());
    // The server sends each client many messages of many sizes (some span reads, some share one).
    const sizes = Array.from({ length: 300 }, (_, i) => [1, 16, 700, 5000, 70_000][i % 5]!);
    server.on('session', (session: Session) => {
      void (async () => {
        // Message i is its size in bytes, every one i & 0xff: checkable long after it arrived.
        sizes.forEach((size, i) => void session.write(Buffer.alloc(size, i & 0xff)));
        await session.flushStream();
      })();
    });
    const receive = async (): Promise<void> => {
      const client = Client.create(keys.publicKey, { symmetric });
      const session = await client.connect(`127.0.0.1:${server.address!.port}`);
      const kept: Buffer[] = [];
      for (let i = 0; i < sizes.length; i++) kept.push((await session.read())!);
      // Everything read since must not have touched a message handed out before.
      t.deepEqual(
        kept.map((m) => m.length),
        sizes,
      );
      t.true(kept.every((m, i) => m.every((byte) => byte === (i & 0xff))));
      await session.close();
    };
    await Promise.all([receive(), receive()]);
  });
}

test('server sessions read into the shared buffer too: messages the server keeps survive later reads', async (t) => {
  const { server, keys } = await startServer();
  t.teardown(() => server.stop());
  const sizes = Array.from({ length: 200 }, (_, i) => [3, 900, 70_000, 20_000][i % 4]!);
  const kept = new Promise<Buffer[]>((resolve) => {
    server.once('session', (session: Session) => {
      void (async () => {
        const got: Buffer[] = [];
        for (let i = 0; i < sizes.length; i++) got.push((await session.read())!);
        resolve(got);
      })();
    });
  });
  const session = await Client.create(keys.publicKey).connect(`127.0.0.1:${server.address!.port}`);
  sizes.forEach((size, i) => void session.write(Buffer.alloc(size, i & 0xff)));
  const got = await kept;
  t.deepEqual(
    got.map((m) => m.length),
    sizes,
  );
  t.true(got.every((m, i) => m.every((byte) => byte === (i & 0xff))));
  await session.close();
});

/** A listener on 127.0.0.1:0 whose next accepted socket is handed over; `pause`: pauseOnConnect. */
async function acceptOne(
  pauseOnConnect: boolean,
): Promise<{ accepted: Promise<Socket>; port: number; close(): void }> {
  const listener = createServer({ pauseOnConnect });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection').then(([s]) => s as Socket);
  return { accepted, port: (listener.address() as AddressInfo).port, close: () => listener.close() };
}

test('borrowReads: a paused accepted socket reads every byte into one shared buffer, with pause, resume and end as usual', async (t) => {
  const { accepted, port, close } = await acceptOne(true);
  t.teardown(close);
  const data = randomBytes(3_000_000);
  const sender = connect(port, '127.0.0.1', () => sender.end(data));
  const socket = await accepted;
  t.true(borrowReads(socket));
  t.false(borrowReads(socket), 'once only');
  const hash = createHash('sha256');
  const memory = new Set<ArrayBufferLike>();
  let chunks = 0;
  const stop = readBorrowed(socket, (chunk) => {
    hash.update(chunk);
    memory.add(chunk.buffer);
    if (++chunks === 3) {
      // Paused: nothing is read until resumed.
      socket.pause();
      setTimeout(() => socket.resume(), 50);
    }
  });
  socket.resume();
  await once(socket, 'end');
  stop();
  socket.destroy();
  t.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  t.true(chunks > 3);
  t.is(memory.size, 1, 'every read went into the same memory');
});

test('borrowReads: a socket already reading is left as it is, and readBorrowed takes its data events', async (t) => {
  const { accepted, port, close } = await acceptOne(false);
  t.teardown(close);
  const sender = connect(port, '127.0.0.1', () => sender.end('hello'));
  const socket = await accepted;
  t.false(borrowReads(socket));
  const got: Buffer[] = [];
  readBorrowed(socket, (chunk) => got.push(Buffer.from(chunk)));
  await once(socket, 'end');
  socket.destroy();
  t.is(Buffer.concat(got).toString(), 'hello');
});

test('connectBorrowing: what arrives before anyone takes the reads is kept, reading waits, and readBorrowed has one taker', async (t) => {
  const data = randomBytes(1_000_000);
  const listener = createServer((c) => c.end(data));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const socket = connectBorrowing({ host: '127.0.0.1', port: (listener.address() as AddressInfo).port });
  await once(socket, 'connect');
  await new Promise((r) => setTimeout(r, 100)); // the server has sent everything by now
  const hash = createHash('sha256');
  let bytes = 0;
  readBorrowed(socket, (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  t.throws(() => readBorrowed(socket, () => {}), { instanceOf: TypeError });
  await once(socket, 'end');
  socket.destroy();
  t.is(bytes, data.length);
  t.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('a socket has one taker of its reads: readBorrowed after a session, or a session after readBorrowed, is a TypeError', async (t) => {
  const keys = fixtureKeys();
  const { accepted, port, close } = await acceptOne(true);
  t.teardown(close);
  // A session over a borrowed accepted socket, with a real client at the other end.
  const connecting = Client.create(keys.publicKey).connect(`127.0.0.1:${port}`);
  const socket = await accepted;
  t.true(borrowReads(socket));
  const serving = secureDuplex(socket, { role: 'server', keys: keys.privateKey });
  socket.resume(); // accepted paused; its first read may come before the session takes them
  const [server, client] = await Promise.all([serving, connecting]);
  t.throws(() => readBorrowed(socket, () => {}), { instanceOf: TypeError });
  await client.write('still the session’s');
  t.is(String(await server.read()), 'still the session’s');
  await client.close();
  // A dialled socket whose reads readBorrowed took: a session on it cannot have them.
  const dialled = connectBorrowing({ host: '127.0.0.1', port });
  readBorrowed(dialled, () => {});
  await t.throwsAsync(secureDuplex(dialled, { role: 'client', serverKey: keys.publicKey }), {
    instanceOf: TypeError,
  });
  dialled.destroy();
});
