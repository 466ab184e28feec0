import test from 'ava';
import fc from 'fast-check';
import { ClientConnection, ErrorCode, ServerConnection } from '../src/protocol/index.js';
import { Endpoint, fixturePrivateKey, makePair, openPair } from './helpers/protocol-pair.js';

const serverKey = fixturePrivateKey('server-2048');

/** Splits `data` into chunks at the given sorted cut points. */
function chunks(data: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    out.push(data.subarray(at, cut));
    at = cut;
  }
  return out;
}

/** A fresh handshake whose bytes are fed by the test, not wired. */
function manualPair() {
  const c = new Endpoint();
  const s = new Endpoint();
  const client = new ClientConnection(c.handler(), { serverKey: serverKey.publicKey });
  const server = new ServerConnection(s.handler(), { keys: [serverKey] });
  return { c, s, client, server };
}

test('delivers messages of 0 bytes, one byte, a record exactly, and many records', (t) => {
  const p = openPair();
  const sizes = [0, 1, 65535, 65536, 65537, 3 * 65536 + 7];
  const sent = sizes.map((n) => Buffer.alloc(n, n % 251));
  for (const m of sent) p.client.write(m);
  t.deepEqual(
    p.s.messages.map((m) => m.length),
    sizes,
  );
  t.true(p.s.messages.every((m, i) => m.equals(sent[i]!)));
});

test('writeMany coalesces small messages into shared records and keeps each message whole', (t) => {
  const p = openPair();
  const before = p.c.sent.length;
  const msgs = Array.from({ length: 100 }, (_, i) => Buffer.from(`message ${i}`));
  p.client.writeMany(msgs);
  t.is(p.c.sent.length - before, 1);
  t.deepEqual(p.s.messages, msgs);
});

test('writeMany sends a lone message as a plain data record and big ones fragmented', (t) => {
  const p = openPair();
  const big = Buffer.alloc(200_000, 7);
  p.client.writeMany([Buffer.from('a')]);
  p.client.writeMany([Buffer.from('b'), big, Buffer.from('c')]);
  t.deepEqual(
    p.s.messages.map((m) => m.length),
    [1, 1, 200_000, 1],
  );
  t.true(p.s.messages[2]!.equals(big));
});

test('the client hello, split at every offset, gets the same answer', (t) => {
  const { c, client } = manualPair();
  client.start();
  const hello = c.sent[0]!;
  for (let cut = 0; cut <= hello.length; cut++) {
    const s = new Endpoint();
    const server = new ServerConnection(s.handler(), { keys: [serverKey] });
    server.receive(hello.subarray(0, cut));
    if (cut < hello.length) t.is(s.sent.length, 0);
    server.receive(hello.subarray(cut));
    if (s.sent.length !== 2) {
      t.fail(`split at ${cut}: server sent ${s.sent.length} frames`);
      return;
    }
  }
  t.pass();
});

test('the server flight, split at every offset, completes the handshake', (t) => {
  let length = 0;
  for (let cut = 0; cut <= length || cut === 0; cut++) {
    const { c, s, client, server } = manualPair();
    client.start();
    server.receive(c.sent[0]!);
    const flight = Buffer.concat(s.sent);
    length = flight.length;
    client.receive(flight.subarray(0, cut));
    client.receive(flight.subarray(cut));
    if (client.state !== 'open') {
      t.fail(`split at ${cut}: client is ${client.state}`);
      return;
    }
  }
  t.true(length > 100);
});

test('a record stream split at every single offset reassembles the same messages', (t) => {
  // For a complete check per offset, run a real handshake per offset (1 RSA op each) on a
  // short stream: 3 small records, ~200 bytes, so ~200 handshakes.
  const msgs = [Buffer.from('one'), Buffer.from('two two'), Buffer.alloc(40, 3)];
  const probe = openPair();
  for (const m of msgs) probe.client.write(m);
  const length = Buffer.concat(probe.c.sent.slice(2)).length;
  for (let cut = 0; cut <= length; cut++) {
    const p = makePair();
    p.client.start();
    const from = p.c.sent.length;
    const s = p.s;
    const c = p.c;
    c.deliver = null;
    for (const m of msgs) p.client.write(m);
    const stream = Buffer.concat(c.sent.slice(from));
    t.is(stream.length, length);
    p.server.receive(stream.subarray(0, cut));
    p.server.receive(stream.subarray(cut));
    if (s.messages.length !== 3 || !s.messages.every((m, i) => m.equals(msgs[i]!))) {
      t.fail(`split at ${cut} delivered ${s.messages.length} messages`);
      return;
    }
  }
  t.pass();
});

test('property: arbitrary messages in arbitrary chunking arrive intact and in order', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.boolean(),
      (arrays, cutSeeds, batched) => {
        const p = makePair();
        p.client.start();
        p.c.deliver = null;
        const from = p.c.sent.length;
        const msgs = arrays.map((a) => Buffer.from(a));
        if (batched) p.client.writeMany(msgs);
        else for (const m of msgs) p.client.write(m);
        const stream = Buffer.concat(p.c.sent.slice(from));
        const cuts = [...new Set(cutSeeds.map((n) => (stream.length ? n % stream.length : 0)))].sort(
          (a, b) => a - b,
        );
        for (const chunk of chunks(stream, cuts)) p.server.receive(chunk);
        return p.s.messages.length === msgs.length && p.s.messages.every((m, i) => m.equals(msgs[i]!));
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('authenticated close carries code and reason, and is echoed', (t) => {
  const p = openPair();
  p.client.write(Buffer.from('last words'));
  p.client.close(4001, 'done for today');
  t.deepEqual(p.s.closes, [{ code: 4001, reason: 'done for today' }]);
  t.deepEqual(p.c.closes, [{ code: 1000, reason: '' }]);
  t.deepEqual(p.s.messages, [Buffer.from('last words')]);
  t.is(p.client.state, 'closed');
  t.is(p.server.state, 'closed');
  t.throws(() => p.client.write(Buffer.from('x')), { code: ErrorCode.SESSION_CLOSED });
});

test('messages the peer sent before seeing our close are still delivered', (t) => {
  const p = makePair();
  p.client.start();
  p.c.deliver = null;
  p.s.deliver = null;
  const fromC = p.c.sent.length;
  const fromS = p.s.sent.length;
  p.client.close();
  p.server.write(Buffer.from('in flight'));
  p.client.receive(Buffer.concat(p.s.sent.slice(fromS)));
  t.deepEqual(p.c.messages, [Buffer.from('in flight')]);
  p.server.receive(Buffer.concat(p.c.sent.slice(fromC)));
  t.is(p.server.state, 'closed');
});

test('on a peer close, the flush hook may still write before the echo is sealed', (t) => {
  let flushed = 0;
  const c = new Endpoint();
  const s = new Endpoint();
  const serverKey = fixturePrivateKey('server-2048');
  const server: ServerConnection = new ServerConnection(
    {
      ...s.handler(),
      flush: () => {
        flushed++;
        server.write(Buffer.from('queued reply'));
      },
    },
    { keys: [serverKey] },
  );
  const client = new ClientConnection(c.handler(), { serverKey: serverKey.publicKey });
  client.start();
  server.receive(c.sent[0]!);
  client.receive(Buffer.concat(s.sent));
  server.receive(c.sent[1]!);
  const from = s.sent.length;
  client.close();
  server.receive(c.sent.at(-1)!);
  t.is(flushed, 1);
  client.receive(Buffer.concat(s.sent.slice(from)));
  t.deepEqual(c.messages, [Buffer.from('queued reply')]);
  t.is(client.state, 'closed');
});

test('close reasons longer than 123 bytes and bad codes are refused', (t) => {
  const p = openPair();
  t.throws(() => p.client.close(1000, 'x'.repeat(124)), { instanceOf: RangeError });
  t.throws(() => p.client.close(70000), { instanceOf: RangeError });
});

test('ping is answered with a pong carrying the same payload', (t) => {
  const p = openPair();
  p.client.ping(Buffer.from('are you there'));
  t.deepEqual(p.c.pongs, [Buffer.from('are you there')]);
  t.throws(() => p.client.ping(Buffer.alloc(65)), { instanceOf: RangeError });
});

test('keys are updated when the record budget is spent, transparently to both sides', (t) => {
  const budget = { records: 5, bytes: 1 << 30 };
  const p = openPair({ keyBudget: budget }, { keyBudget: budget });
  const msgs = Array.from({ length: 23 }, (_, i) => Buffer.from(`m${i}`));
  for (const m of msgs) p.client.write(m);
  for (const m of msgs) p.server.write(m);
  t.deepEqual(p.s.messages, msgs);
  t.deepEqual(p.c.messages, msgs);
  t.deepEqual(p.errors, []);
});

test('keys are updated when the byte budget is spent', (t) => {
  const budget = { records: 1 << 30, bytes: 100_000 };
  const p = openPair({ keyBudget: budget }, { keyBudget: budget });
  const before = p.c.sent.length;
  for (let i = 0; i < 10; i++) p.client.write(Buffer.alloc(30_000, i));
  t.is(p.s.messages.length, 10);
  // 10 data records plus 2 key updates (after 4 × 30 000 and 8 × 30 000 bytes).
  t.is(p.c.sent.length - before, 12);
});

test('a peer that ignores its key budget is cut off with ERR_KEY_EXHAUSTED', (t) => {
  // The sender's budget is huge (it never updates); the receiver expects updates every 4.
  const p = openPair({}, { keyBudget: { records: 4, bytes: 1 << 30 } });
  for (let i = 0; i < 20 && p.client.state === 'open'; i++) p.client.write(Buffer.from('x'));
  t.is((p.errors[0]!.error as { code: string }).code, ErrorCode.KEY_EXHAUSTED);
  // The client is told why, through an encrypted alert.
  t.is((p.errors[1]!.error as { code: string }).code, ErrorCode.KEY_EXHAUSTED);
  t.is(p.s.messages.length, 7); // 8 records under one key allowed (2 × budget), 1 was ClientFinished
});

test('a message larger than maxMessageSize is refused before it is reassembled', (t) => {
  const p = openPair({}, { maxMessageSize: 100_000 });
  p.client.write(Buffer.alloc(100_000));
  t.is(p.s.messages.length, 1);
  p.client.write(Buffer.alloc(150_000));
  t.is(p.errors[0]?.side, 'server');
  t.is((p.errors[0]!.error as { code: string }).code, ErrorCode.MESSAGE_TOO_LARGE);
  // The client was told, with the right code.
  t.is((p.errors[1]!.error as { code: string }).code, ErrorCode.MESSAGE_TOO_LARGE);
});

test('options are validated up front', (t) => {
  t.throws(() => openPair({ maxFragmentSize: 0 }), { instanceOf: RangeError });
  t.throws(() => openPair({ maxMessageSize: 1.5 }), { instanceOf: TypeError });
  t.throws(() => new ServerConnection(new Endpoint().handler(), { keys: [] }), { instanceOf: TypeError });
});

test('a message sent in 1-byte fragments reassembles exactly (one growing buffer, not one object per fragment)', (t) => {
  const p = openPair({ maxFragmentSize: 1 });
  const message = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  p.client.write(message);
  p.client.write(Buffer.from('after'));
  t.is(p.s.messages.length, 2);
  t.true(p.s.messages[0]!.equals(message));
  t.deepEqual(p.s.messages[1], Buffer.from('after'));
});
