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

// In-memory peers answer synchronously, inside our own transport write: the writer must never
// let that re-enter the session while the core is half-way through queueing a message.
test('a synchronously echoing in-memory peer gets every message of a batch that overflows', async (t) => {
  const { client, server } = await sessionPair();
  const got: number[] = [];
  server.on('message', (m) => {
    got.push(m[0]!);
    void server.write(m);
  });
  const echoed: number[] = [];
  const allEchoed = new Promise<void>((resolve) =>
    client.on('message', (m) => {
      echoed.push(m[0]!);
      if (echoed.length === 17) resolve();
    }),
  );
  // 17 × 4000 bytes: the 17th does not fit in the first 64 KiB batch record.
  const writes = Array.from({ length: 17 }, (_, i) => client.write(Buffer.alloc(4000, i)));
  await Promise.all(writes);
  await allEchoed;
  const order = Array.from({ length: 17 }, (_, i) => i);
  t.deepEqual(got, order);
  t.deepEqual(echoed, order);
  t.is(client.bufferedAmount, 0);
  await client.close();
});

test('messages the peer receives before it closes are all delivered, even mid-batch', async (t) => {
  const { client, server } = await sessionPair();
  const got: number[] = [];
  server.on('message', (m) => {
    got.push(m[0]!);
    if (got.length === 16) void server.close();
  });
  const results = await Promise.all(
    Array.from({ length: 17 }, (_, i) =>
      client.write(Buffer.alloc(4000, i)).then(
        () => 'ok',
        (err: { code?: string }) => err.code,
      ),
    ),
  );
  await server.closed;
  t.deepEqual(
    results,
    Array.from({ length: 17 }, () => 'ok'),
  );
  t.deepEqual(
    got,
    Array.from({ length: 17 }, (_, i) => i),
    'the 17th was sent before the close was seen',
  );
});

test("replies written in 'message' listeners to one record's batch leave together, in order", async (t) => {
  const { client, server, serverEnd } = await sessionPair();
  server.on('message', (m) => void server.write(Buffer.concat([Buffer.from('re:'), m])));
  let writes = 0;
  const write = serverEnd.write.bind(serverEnd) as (...args: unknown[]) => boolean;
  (serverEnd as { write: (...args: unknown[]) => boolean }).write = (...args) => {
    writes++;
    return write(...args);
  };
  const echoed: string[] = [];
  const allEchoed = new Promise<void>((resolve) =>
    client.on('message', (m) => {
      if (echoed.push(String(m)) === 50) resolve();
    }),
  );
  // 50 messages of one tick: one batch record to the server.
  await Promise.all(Array.from({ length: 50 }, (_, i) => client.write(`m${i}`)));
  await allEchoed;
  t.deepEqual(
    echoed,
    Array.from({ length: 50 }, (_, i) => `re:m${i}`),
  );
  t.is(writes, 1, "the 50 replies were sealed together once the record's messages were delivered");
  await client.close();
});

test('a synchronous peer answering our reply waits for the records still in the chunk', async (t) => {
  const { client, server, clientEnd, serverEnd } = await sessionPair();
  // Hold the client's next two records (sealed apart), then hand them to the server as one chunk.
  const realPeer = clientEnd.peer!;
  const held: Buffer[] = [];
  clientEnd.peer = { push: (chunk: Buffer) => held.push(chunk) > 0 } as unknown as typeof realPeer;
  const got: string[] = [];
  const errors: string[] = [];
  server.on('error', (err: { code: string }) => errors.push(`server ${err.code}`));
  client.on('error', (err: { code: string }) => errors.push(`client ${err.code}`));
  server.on('message', (m) => {
    got.push(`server ${m}`);
    void server.write(`echo ${m}`);
  });
  // The client answers the first echo at once: its record reaches the server while the
  // server is still handling the chunk, before record b.
  client.on('message', (m) => {
    got.push(`client ${m}`);
    if (String(m) === 'echo a') void client.write('c');
  });
  void client.write('a');
  await new Promise((resolve) => setImmediate(resolve));
  void client.write('b');
  await new Promise((resolve) => setImmediate(resolve));
  clientEnd.peer = realPeer;
  t.is(held.length, 2);
  serverEnd.push(Buffer.concat(held));
  for (let i = 0; i < 100 && got.length < 6 && errors.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  t.deepEqual(errors, []);
  t.deepEqual(got, ['server a', 'client echo a', 'server b', 'client echo b', 'server c', 'client echo c']);
  await client.close();
});
