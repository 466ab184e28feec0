/**
 * DatagramSession's open phase over two real UDP sockets on loopback (PROTOCOL.md §D4,
 * §D8): messages both ways, async iteration, size and queue limits, Close, keepalive and
 * idle timeout. Keys come from datagramContexts(secret, role): no handshake.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, PeerClosedError, SessionError, TimeoutError } from '../src/protocol/index.js';
import { resolveDatagramSessionOptions } from '../src/datagram/session-options.js';
import { sessionPair, take } from './helpers/dgram-pair.js';
import type { Host } from './helpers/dgram-pair.js';
import { waitUntil } from './helpers/net.js';

const numbered = (i: number, size = 8): Buffer => {
  const b = Buffer.alloc(Math.max(size, 4), i & 0xff);
  b.writeUInt32BE(i, 0);
  return b.subarray(0, size);
};

async function bothWays(t: ExecutionContext, host: Host, symmetric?: 'AES-256-GCM'): Promise<void> {
  const pair = await sessionPair({ host, context: symmetric ? { set: { symmetric } } : undefined });
  const { client, server } = pair;
  try {
    const fromClient = take(server.session, 20);
    const fromServer = take(client.session, 20);
    for (let i = 0; i < 20; i++) {
      t.true(client.session.send(numbered(i, i * 7)));
      t.true(server.session.send(`reply ${i}`));
    }
    const got = await fromClient;
    // Loopback keeps order; the test only relies on each message arriving once.
    t.deepEqual(
      got.map((m) => m.toString('hex')).sort(),
      Array.from({ length: 20 }, (_, i) => numbered(i, i * 7).toString('hex')).sort(),
    );
    t.deepEqual(
      (await fromServer).map(String).sort(),
      Array.from({ length: 20 }, (_, i) => `reply ${i}`).sort(),
    );
    t.is(server.session.counters.delivered, 20);
    t.is(client.session.counters.sent, 20);
    t.is(server.session.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
    t.is(server.session.counters.duplicates, 0);
  } finally {
    await pair.close();
  }
}

test('messages go both ways over IPv4 loopback, empty ones included, each once', bothWays, '127.0.0.1');
test('messages go both ways over IPv6 loopback', bothWays, '::1');
test('messages go both ways with the GCM suite', bothWays, '127.0.0.1', 'AES-256-GCM');

test("'message' listeners get every message; those before any listener wait for the first one", async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    client.session.send('early');
    await waitUntil(() => server.session.counters.delivered === 1, 'the early message arrived');
    const got: string[] = [];
    server.session.on('message', (m) => got.push(m.toString()));
    client.session.send('late');
    await waitUntil(() => got.length === 2, 'both messages reached the listener');
    t.deepEqual(got, ['early', 'late']);
  } finally {
    await pair.close();
  }
});

test('an iterator that falls behind loses the oldest messages, counted, never the newest', async (t) => {
  // 3 messages of 1000 bytes (+96 each) fit 3300 bytes; the 4th and 5th push out the oldest.
  const pair = await sessionPair({ server: { maxUnreadBytes: 3300 } });
  const { client, server } = pair;
  try {
    for (let i = 0; i < 5; i++) client.session.send(numbered(i, 1000));
    await waitUntil(() => server.session.counters.delivered === 5, 'all five arrived');
    t.is(server.session.counters.unreadDropped, 2);
    const got = await take(server.session, 3);
    t.deepEqual(
      got.map((m) => m.readUInt32BE(0)),
      [2, 3, 4],
    );
  } finally {
    await pair.close();
  }
});

test('maxMessageSize is exactly what fits maxDatagramSize: one more byte is ERR_MESSAGE_TOO_LARGE', async (t) => {
  for (const symmetric of ['AES-256-CBC', 'AES-256-GCM'] as const) {
    const pair = await sessionPair({ context: { set: { symmetric } } });
    const { client, server } = pair;
    try {
      const max = client.session.maxMessageSize;
      t.true(client.outbound.packetSize(max) <= 1200, symmetric);
      t.true(client.outbound.packetSize(max + 1) > 1200, symmetric);
      t.true(client.session.send(Buffer.alloc(max, 7)));
      t.is(client.transmitted.at(-1)!.length, client.outbound.packetSize(max));
      const error = t.throws(() => client.session.send(Buffer.alloc(max + 1)), { instanceOf: SessionError });
      t.is(error?.code, ErrorCode.MESSAGE_TOO_LARGE);
      const [got] = await take(server.session, 1);
      t.deepEqual(got, Buffer.alloc(max, 7));
      // The refusal ends nothing.
      t.is(client.session.state, 'open');
      t.is(client.session.counters.sent, 1);
    } finally {
      await pair.close();
    }
  }
  const big = await sessionPair({ options: { maxDatagramSize: 9000 } });
  try {
    t.true(big.client.session.maxMessageSize > 8000);
    t.true(big.client.session.send(Buffer.alloc(big.client.session.maxMessageSize)));
    t.is((await take(big.server.session, 1))[0]!.length, big.client.session.maxMessageSize);
  } finally {
    await big.close();
  }
});

test('send() returns false and drops the message beyond maxQueuedBytes; room again once the socket is done', async (t) => {
  const pair = await sessionPair({ client: { maxQueuedBytes: 2500 } });
  const { client, server } = pair;
  try {
    client.hold = true;
    const size = client.outbound.packetSize(1000);
    t.true(client.session.send(numbered(1, 1000)));
    t.true(client.session.send(numbered(2, 1000)));
    await waitUntil(() => client.held.length === 2, 'the socket finished both sends');
    t.is(client.session.queuedBytes, 2 * size);
    t.false(client.session.send(numbered(3, 1000)));
    t.is(client.session.counters.sendDropped, 1);
    t.is(client.session.counters.sent, 2);
    client.hold = false;
    for (const done of client.held.splice(0)) done();
    t.is(client.session.queuedBytes, 0);
    t.true(client.session.send(numbered(4, 1000)));
    const got = await take(server.session, 3);
    t.deepEqual(
      got.map((m) => m.readUInt32BE(0)),
      [1, 2, 4],
    );
  } finally {
    await pair.close();
  }
});

test("close(code, reason) reaches the peer: 'close' exactly once on each side, iterator throws PeerClosedError", async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    const iterating = take(server.session, 2);
    client.session.send('last words');
    client.session.close(4001, 'bye ✓');
    t.is(client.session.state, 'closed');
    t.deepEqual(client.closes, [[4001, 'bye ✓']]);
    const error = await t.throwsAsync(iterating, { instanceOf: PeerClosedError });
    t.is(error?.closeCode, 4001);
    t.is(error?.reason, 'bye ✓');
    t.deepEqual(server.closes, [[4001, 'bye ✓']]);
    t.is(server.session.closeCode, 4001);
    t.is(server.ended, 1);
    t.is(client.ended, 1);
    // Everything after the end: no second 'close', send throws, close is a no-op.
    client.session.close();
    server.session.destroy();
    t.is(client.closes.length, 1);
    t.is(server.closes.length, 1);
    const closed = t.throws(() => client.session.send('x'), { instanceOf: SessionError });
    t.is(closed?.code, ErrorCode.SESSION_CLOSED);
    t.throws(() => server.session.send('x'), { instanceOf: SessionError });
    await server.session.closed;
  } finally {
    await pair.close();
  }
});

test("a normal close (1000) ends the peer's iterator without an error, after the messages sent before it", async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    client.session.send('one');
    client.session.send('two');
    client.session.close();
    const got: string[] = [];
    for await (const m of server.session) got.push(m.toString());
    t.deepEqual(got, ['one', 'two']);
    t.deepEqual(server.closes, [[1000, '']]);
  } finally {
    await pair.close();
  }
});

test('Symbol.asyncDispose closes with 1000', async (t) => {
  const pair = await sessionPair();
  try {
    await pair.client.session[Symbol.asyncDispose]();
    t.deepEqual(pair.client.closes, [[1000, '']]);
    await pair.server.session.closed;
    t.deepEqual(pair.server.closes, [[1000, '']]);
  } finally {
    await pair.close();
  }
});

test('close() checks its arguments', async (t) => {
  const pair = await sessionPair();
  try {
    t.throws(() => pair.client.session.close(70000), { instanceOf: RangeError });
    t.throws(() => pair.client.session.close(1000, 'x'.repeat(124)), { instanceOf: RangeError });
    t.is(pair.client.session.state, 'open');
  } finally {
    await pair.close();
  }
});

test("destroy() ends at once without a Close: 'close' 1006 here, the peer hears nothing", async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    client.session.on('error', (e) => client.errors.push(e));
    const iterating = take(client.session, 1);
    client.session.destroy();
    t.deepEqual(await iterating, []);
    t.deepEqual(client.closes, [[1006, '']]);
    t.deepEqual(client.errors, []);
    t.is(client.transmitted.length, 0);
    t.is(server.session.state, 'open');
    const failing = await sessionPair();
    try {
      failing.client.session.on('error', (e) => failing.client.errors.push(e));
      const boom = new Error('boom');
      failing.client.session.destroy(boom);
      t.is((failing.client.errors[0] as SessionError).cause, boom);
      t.deepEqual(failing.client.closes, [[1006, '']]);
    } finally {
      await failing.close();
    }
  } finally {
    await pair.close();
  }
});

test('an async listener that rejects fails its session alone, never the process', async (t) => {
  const pair = await sessionPair();
  const { client, server } = pair;
  try {
    server.session.on('error', (e) => server.errors.push(e));
    server.session.on('message', async () => {
      throw new Error('listener bug');
    });
    client.session.send('trigger');
    await server.session.closed;
    t.regex(server.errors[0]!.message, /listener bug/);
    t.deepEqual(server.closes, [[1006, '']]);
  } finally {
    await pair.close();
  }
});

test('a socket that is gone fails the session with ERR_TRANSPORT', async (t) => {
  const pair = await sessionPair();
  const { client } = pair;
  try {
    client.session.on('error', (e) => client.errors.push(e));
    await new Promise<void>((resolve) => client.socket.close(() => resolve()));
    const error = t.throws(() => client.session.send('into the void'), { instanceOf: SessionError });
    t.is(error?.code, ErrorCode.SESSION_CLOSED);
    t.is((client.errors[0] as SessionError).code, ErrorCode.TRANSPORT);
    t.deepEqual(client.closes, [[1006, '']]);
    t.is(client.ended, 1);
    t.is(client.session.queuedBytes, 0);
  } finally {
    await pair.close();
  }
});

test('keepalive pings keep a session without traffic alive past its idle timeout', async (t) => {
  // Wide margins (20 ms pings, 400 ms idle): the machine may be busy.
  const pair = await sessionPair({ options: { keepAliveInterval: 20, idleTimeout: 400 } });
  const { client, server } = pair;
  try {
    // 25 pings each way take at least 500 ms, past the 400 ms idle limit.
    await waitUntil(
      () => client.session.counters.pingsReceived >= 25 && server.session.counters.pingsReceived >= 25,
      '25 pings each way',
    );
    t.is(client.session.state, 'open');
    t.is(server.session.state, 'open');
    t.deepEqual(client.closes, []);
  } finally {
    await pair.close();
  }
});

test("one side's pings keep both alive: the peer answers each with a Pong", async (t) => {
  // 40 pings 50 ms apart take at least 2 s, past the 1.5 s idle limit (wide enough that a
  // loaded machine's timer delays do not end the session on their own).
  const pair = await sessionPair({
    client: { keepAliveInterval: 50, idleTimeout: 1500 },
    server: { keepAliveInterval: 0, idleTimeout: 1500 },
  });
  const { client, server } = pair;
  try {
    await waitUntil(() => server.session.counters.pingsReceived >= 40, '40 pings', 3000);
    t.is(server.session.counters.pingsSent, 0);
    // Only Pongs reached the client: without them its idle limit would have ended it.
    t.true(client.inbound.counters.opened >= 39);
    t.is(client.session.state, 'open');
    t.is(server.session.state, 'open');
  } finally {
    await pair.close();
  }
});

test('a silent peer ends the session with ERR_TIMEOUT (idle), and the alert reaches the peer', async (t) => {
  const pair = await sessionPair({
    server: { keepAliveInterval: 0, idleTimeout: 80 },
    client: { keepAliveInterval: 0, idleTimeout: 0 },
  });
  const { client, server } = pair;
  try {
    server.session.on('error', (e) => server.errors.push(e));
    client.session.on('error', (e) => client.errors.push(e));
    await server.session.closed;
    t.is(server.errors.length, 1);
    t.true(server.errors[0] instanceof TimeoutError);
    t.is((server.errors[0] as TimeoutError).limit, 'idle');
    t.deepEqual(server.closes, [[1006, '']]);
    await client.session.closed;
    t.is((client.errors[0] as SessionError).code, ErrorCode.TIMEOUT);
    t.deepEqual(client.closes, [[1006, '']]);
  } finally {
    await pair.close();
  }
});

test('traffic of its own does not keep a session alive: only records that open do', async (t) => {
  const pair = await sessionPair({
    server: { keepAliveInterval: 0, idleTimeout: 100 },
    client: { idleTimeout: 0 },
  });
  const { server } = pair;
  try {
    let sending = true;
    const loop = (async () => {
      for (let i = 0; sending && i < 1000; i++) {
        if (server.session.state === 'open') server.session.send('one way');
        await sleep(10);
      }
    })();
    await server.session.closed;
    sending = false;
    await loop;
    t.is(server.session.closeCode, 1006);
  } finally {
    await pair.close();
  }
});

test('options are checked up front', (t) => {
  t.throws(() => resolveDatagramSessionOptions({ maxDatagramSize: 1199 }), { instanceOf: RangeError });
  t.throws(() => resolveDatagramSessionOptions({ maxDatagramSize: 65508 }), { instanceOf: RangeError });
  t.throws(() => resolveDatagramSessionOptions({ window: 1000 }), { instanceOf: RangeError });
  t.throws(() => resolveDatagramSessionOptions({ window: 1056 + 1 }), { instanceOf: RangeError });
  t.throws(() => resolveDatagramSessionOptions({ replay: 'none' as never }), { instanceOf: TypeError });
  t.throws(() => resolveDatagramSessionOptions({ keepAliveInterval: 100, idleTimeout: 100 }), {
    instanceOf: TypeError,
  });
  t.throws(() => resolveDatagramSessionOptions({ rekeyAfterRecords: 2 ** 24 + 1 }), {
    instanceOf: RangeError,
  });
  const d = resolveDatagramSessionOptions(undefined);
  t.like(d, {
    keepAliveInterval: 15000,
    idleTimeout: 60000,
    maxDatagramSize: 1200,
    maxQueuedBytes: 1024 * 1024,
    replay: 'window',
    window: 2048,
  });
  t.is(resolveDatagramSessionOptions({ idleTimeout: 10000 }).keepAliveInterval, 5000);
});
