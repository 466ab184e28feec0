import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { numbered, startServer, waitUntil } from './helpers/net.js';
import { sessionPair } from './helpers/sessions.js';

const MESSAGE = 64 * 1024;
const COUNT = 384; // 24 MiB: far more than the kernel's socket buffers hold on loopback
const HWM = 128 * 1024;

test('a slow reader pauses its socket: buffering stays bounded and the writer waits', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer({ readableHighWaterMark: HWM });
  t.teardown(() => server.stop());
  const accepted = server.acceptClient();
  const client = makeClient();
  const session = await client.connect(endpoint);
  const reader = await accepted;

  let completed = 0;
  const writing = (async () => {
    for (let i = 0; i < COUNT; i++) {
      await session.write(numbered(i, MESSAGE));
      completed++;
    }
  })();

  // Let the writer run until it makes no more progress (the reader never reads meanwhile).
  await waitUntil(() => reader.readingPaused, 'the reader paused its socket');
  let last = -1;
  let still = 0;
  for (let polls = 0; polls < 1000 && still < 25; polls++) {
    await sleep(10);
    still = completed === last ? still + 1 : 0;
    last = completed;
  }
  t.true(reader.readingPaused);
  t.true(completed < COUNT, `writer finished ${completed} of ${COUNT} writes while nobody read`);
  // Unread messages held by the reader: below the mark plus the one message that crossed it.
  t.true(reader.readableLength <= HWM + MESSAGE, `${reader.readableLength} bytes held`);
  t.true(session.bufferedAmount > 0);
  t.log(`writer stalled after ${completed} writes; reader held ${reader.readableLength} bytes`);

  for (let i = 0; i < COUNT; i++) {
    const message = await reader.read();
    if (!message?.equals(numbered(i, MESSAGE))) t.fail(`message ${i} differs`);
    t.true(reader.readableLength <= HWM + MESSAGE);
  }
  await writing;
  t.is(completed, COUNT);
  t.false(reader.readingPaused);
  await client.close();
});

test('a writer whose peer does not read sees write() stay pending, then complete once it reads', async (t) => {
  const { server, client: makeClient, endpoint } = await startServer();
  t.teardown(() => server.stop());
  const accepted = server.acceptClient();
  const client = makeClient({ readableHighWaterMark: HWM });
  await client.connect(endpoint);
  const writer = await accepted;
  // The server writes to a client that does not read: its write() promises must stall.
  let completed = 0;
  const writing = (async () => {
    for (let i = 0; i < COUNT; i++) {
      await writer.write(numbered(i, MESSAGE));
      completed++;
    }
  })();
  await waitUntil(() => client.session!.readingPaused, 'the client paused its socket');
  let last = -1;
  let still = 0;
  for (let polls = 0; polls < 1000 && still < 25; polls++) {
    await sleep(10);
    still = completed === last ? still + 1 : 0;
    last = completed;
  }
  t.true(completed < COUNT, `server finished ${completed} of ${COUNT} writes`);
  for (let i = 0; i < COUNT; i++) {
    const message = await client.read();
    if (!message?.equals(numbered(i, MESSAGE))) t.fail(`message ${i} differs`);
  }
  await writing;
  t.is(completed, COUNT);
  await client.close();
});

test('a flood of empty messages pauses the reader too: each queued message is charged its overhead', async (t) => {
  const { client, server } = await sessionPair({}, { readableHighWaterMark: 64 * 1024 });
  // 20 000 empty messages in one tick: the writer packs them into DataBatch records.
  const writes = Array.from({ length: 20_000 }, () => client.write(Buffer.alloc(0)));
  await waitUntil(() => server.readingPaused, 'the reader paused on a flood of empty messages');
  t.is(server.readableLength, 0);
  // Reading drains the queue and the peer's writes complete.
  let read = 0;
  while (read < 20_000) {
    const m = await server.read();
    t.is(m?.length, 0);
    read++;
  }
  await Promise.all(writes);
  t.false(server.readingPaused);
});
