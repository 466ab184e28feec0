import test from 'ava';
import { numbered } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

test('write() copies the message at the call: the caller may reuse its buffer at once', async (t) => {
  const { client, server } = await sessionPair();
  // Small (batched), mid-size (batched, sealed when the batch fills) and large (sealed at once).
  for (const size of [16, 5000, 40_000, 100_000]) {
    const buffer = Buffer.alloc(size, 0x61);
    const written = client.write(buffer);
    buffer.fill(0x7a);
    await written;
    t.deepEqual(await server.read(), Buffer.alloc(size, 0x61), `${size} bytes`);
  }
  await client.close();
});

test('small, large and batch-filling writes of one tick arrive whole and in call order', async (t) => {
  const { client, server } = await sessionPair();
  // 20 × 4000 bytes overflow one 64 KiB batch record; the large ones flush the batch first.
  const sizes = [3, 4000, 70_000, ...Array.from({ length: 20 }, () => 4000), 1, 65_536, 0, 9];
  const writes = sizes.map((size, i) => client.write(numbered(i, size)));
  await Promise.all(writes);
  for (const [i, size] of sizes.entries()) t.deepEqual(await server.read(), numbered(i, size));
  await client.close();
});

test('writes of one tick share one promise that settles once their records are written', async (t) => {
  const { client, server } = await sessionPair();
  const a = client.write('a');
  const b = client.write('b');
  t.is(a, b, 'one batch, one promise');
  await a;
  const c = client.write('c');
  t.not(c, a, 'the next batch gets its own');
  await c;
  t.deepEqual([await server.read(), await server.read(), await server.read()].map(String), ['a', 'b', 'c']);
  await client.close();
});

test('writes queued when the session fails reject with the session error; none goes unhandled', async (t) => {
  const { client, server } = await sessionPair();
  const pending = client.write('never sealed');
  client.destroy();
  const error = await t.throwsAsync(pending);
  t.is((error as { code?: string }).code, 'ERR_SESSION_CLOSED');
  t.is(await server.read().catch((err: { code: string }) => err.code), 'ERR_TRUNCATED');
});
