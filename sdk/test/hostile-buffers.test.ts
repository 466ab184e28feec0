/**
 * Buffering per session under hostile peers, measured in a server child process: a peer
 * that ignores backpressure cannot grow the server's memory past the high-water mark plus
 * a record plus the socket buffers; a server whose peer never reads gets ERR_BUFFER_FULL at
 * `maxBufferedAmount` instead of growing without bound.
 */
import test from 'ava';
import type { SessionError } from '../src/index.js';
import { Client, ErrorCode } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { waitUntil } from './helpers/net.js';
import { mib, startServerProcess } from './helpers/server-process.js';

const HWM = 256 * 1024;
const MESSAGE = 64 * 1024;

test('a peer that writes without waiting cannot make the server buffer more than the high-water mark and a message', async (t) => {
  const server = await startServerProcess({ app: 'noread', readableHighWaterMark: HWM });
  t.teardown(() => server.kill());
  const before = await server.stats();
  // The attacker ignores backpressure: 32 MiB of writes it never waits for (its own cap is raised).
  const client = Client.create(fixtureKeys().publicKey, {}, { maxBufferedAmount: 1 << 30 });
  const session = await client.connect(server.endpoint);
  const total = 512;
  const writes: Promise<void>[] = [];
  for (let i = 0; i < total; i++) writes.push(session.write(Buffer.alloc(MESSAGE, i & 0xff)).catch(() => {}));
  // Let it run until the attacker's buffer stops draining: the server has stopped reading.
  let last = -1;
  await waitUntil(() => {
    const now = session.bufferedAmount;
    const still = now === last;
    last = now;
    return still && now > 0;
  }, 'the attacker stalled');
  const during = await server.stats();
  const held = Object.values(during.ports).find((r) => r.established);
  t.truthy(held);
  t.true(held!.maxReadable! <= HWM + MESSAGE, `server held ${held!.maxReadable} unread bytes`);
  // What the server holds is small next to what the attacker pushed.
  const grew = during.heapUsed + during.external - (before.heapUsed + before.external);
  t.log(
    `attacker buffered ${mib(session.bufferedAmount)} of ${mib(total * MESSAGE)}; ` +
      `server held ${mib(held!.maxReadable!)} unread, grew ${mib(grew)} (heap+external)`,
  );
  t.true(session.bufferedAmount > 8 * 1024 * 1024);
  t.true(grew < 8 * 1024 * 1024, `server grew ${mib(grew)}`);
  session.destroy();
  await Promise.all(writes);
  const after = await server.stop();
  t.is(after.sessionCount, 0);
  t.deepEqual(after.findings, []);
});

test('a server writing to a peer that never reads gets ERR_BUFFER_FULL at maxBufferedAmount', async (t) => {
  const cap = 1024 * 1024;
  const server = await startServerProcess({ app: 'flood', maxBufferedAmount: cap });
  t.teardown(() => server.kill());
  const before = await server.stats();
  // A client that never reads: its session pauses at its high-water mark, TCP does the rest.
  const client = Client.create(fixtureKeys().publicKey, {}, { readableHighWaterMark: 64 * 1024 });
  const session = await client.connect(server.endpoint);
  const stats = await (async () => {
    for (let i = 0; i < 1000; i++) {
      const s = await server.stats();
      if (s.sessionErrors[ErrorCode.BUFFER_FULL]) return s;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the server never hit its cap');
  })();
  const record = Object.values(stats.ports).find((r) => r.error === ErrorCode.BUFFER_FULL)!;
  t.true(record.maxBuffered! <= cap + MESSAGE + 1024, `buffered at most ${record.maxBuffered}`);
  t.log(`server buffered at most ${mib(record.maxBuffered!)} (cap ${mib(cap)}) before ERR_BUFFER_FULL`);
  // The server dropped the transport; the client learns it as a truncation.
  const err = await (async () => {
    try {
      for (;;) if ((await session.read()) === null) return null;
    } catch (e) {
      return e as SessionError;
    }
  })();
  t.true(err !== null && [ErrorCode.TRUNCATED, ErrorCode.TRANSPORT].includes(err.code as never), err?.code);
  const after = await server.stop();
  t.is(after.sessionCount, 0);
  t.true(
    after.heapUsed < before.heapUsed + 8 * 1024 * 1024,
    `heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)}`,
  );
  t.deepEqual(after.findings, []);
});
