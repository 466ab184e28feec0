/**
 * The client's socket reads into one buffer shared by the thread (stream/borrowed-reads.ts):
 * what the session hands out must be the application's to keep, whatever is read after it.
 */
import { Buffer } from 'node:buffer';
import test from 'ava';
import { Client } from '../src/index.js';
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
