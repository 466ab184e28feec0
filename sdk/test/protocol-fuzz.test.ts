import test from 'ava';
import fc from 'fast-check';
import { ClientConnection, ServerConnection, SessionError } from '../src/protocol/index.js';
import { Endpoint, fixturePrivateKey, openPair } from './helpers/protocol-pair.js';

const serverKey = fixturePrivateKey('server-2048');

/** A valid recorded conversation: client bytes, server bytes. */
function transcript(): { client: Buffer; server: Buffer } {
  const p = openPair();
  p.client.write(Buffer.from('hello'));
  p.client.writeMany([Buffer.alloc(100, 1), Buffer.alloc(3)]);
  p.server.write(Buffer.alloc(70_000, 2));
  p.client.ping(Buffer.from('p'));
  p.client.close(4000, 'bye');
  return { client: Buffer.concat(p.c.sent), server: Buffer.concat(p.s.sent) };
}

const mutation = (len: number) =>
  fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat({ max: len - 1 }),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: len }) }),
    fc.record({
      kind: fc.constant('repeat' as const),
      at: fc.nat({ max: len - 1 }),
      n: fc.integer({ min: 1, max: 300 }),
    }),
    fc.record({
      kind: fc.constant('splice' as const),
      at: fc.nat({ max: len }),
      bytes: fc.uint8Array({ maxLength: 64 }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat({ max: len - 1 }),
      n: fc.integer({ min: 1, max: 64 }),
    }),
  );

type Mutation = { kind: string; at: number; bit?: number; n?: number; bytes?: Uint8Array };

function mutate(data: Buffer, m: Mutation): Buffer {
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(data);
      out[m.at]! ^= 1 << m.bit!;
      return out;
    }
    case 'truncate':
      return data.subarray(0, m.at);
    case 'repeat':
      return Buffer.concat([data.subarray(0, m.at + m.n!), data.subarray(m.at)]);
    case 'splice':
      return Buffer.concat([data.subarray(0, m.at), Buffer.from(m.bytes!), data.subarray(m.at)]);
    default:
      return Buffer.concat([data.subarray(0, m.at), data.subarray(m.at + m.n!)]);
  }
}

/** Feeds `data` in `chunkSize` pieces; returns the error thrown, if any. Fails on a non-coded error. */
function feedAll(conn: ClientConnection | ServerConnection, data: Buffer, chunkSize: number): unknown {
  try {
    for (let at = 0; at < data.length; at += chunkSize) conn.receive(data.subarray(at, at + chunkSize));
    return null;
  } catch (err) {
    if (!(err instanceof SessionError)) throw new Error(`uncoded error: ${String(err)}`, { cause: err });
    conn.fail(err);
    return err;
  }
}

const recorded = transcript();

test('mutated client streams into a fresh server fail only with coded errors', (t) => {
  fc.assert(
    fc.property(
      fc.array(mutation(recorded.client.length), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 4096 }),
      (ms, chunk) => {
        let data = recorded.client;
        for (const m of ms)
          data = mutate(data, { ...m, at: Math.min(m.at, Math.max(0, data.length - 1)) } as Mutation);
        const s = new Endpoint();
        const server = new ServerConnection(s.handler(), { keys: [serverKey] });
        feedAll(server, data, chunk);
        // A replayed stream can never open a session with a fresh server, mutated or not.
        return s.messages.length === 0 && server.bufferedBytes <= 70_000;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('mutated server streams into a client fail only with coded errors', (t) => {
  fc.assert(
    fc.property(
      fc.array(mutation(recorded.server.length), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 4096 }),
      (ms, chunk) => {
        let data = recorded.server;
        for (const m of ms)
          data = mutate(data, { ...m, at: Math.min(m.at, Math.max(0, data.length - 1)) } as Mutation);
        const c = new Endpoint();
        const client = new ClientConnection(c.handler(), { serverKey: serverKey.publicKey });
        client.start();
        feedAll(client, data, chunk);
        return c.messages.length === 0;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('random bytes into every state fail only with coded errors', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 2 }), (bytes, stage) => {
      const p = openPair();
      p.c.deliver = null;
      p.s.deliver = null;
      const fresh = new ServerConnection(new Endpoint().handler(), { keys: [serverKey] });
      const target = stage === 0 ? fresh : stage === 1 ? p.server : p.client;
      feedAll(target, Buffer.from(bytes), 97);
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('live sessions with injected corruption fail with coded errors and deliver only genuine messages', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 500 }), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      fc.integer({ min: 0, max: 7 }),
      (msgs, where, bit) => {
        const p = openPair();
        p.c.deliver = null;
        const from = p.c.sent.length;
        const sent = msgs.map((m) => Buffer.from(m));
        for (const m of sent) p.client.write(m);
        const stream = Buffer.from(Buffer.concat(p.c.sent.slice(from)));
        stream[where % stream.length]! ^= 1 << bit;
        const err = feedAll(p.server, stream, 64);
        // Whatever was delivered is a prefix of what was sent, untouched.
        const ok = p.s.messages.every((m, i) => m.equals(sent[i]!));
        return ok && (err !== null || p.s.messages.length < sent.length);
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});
