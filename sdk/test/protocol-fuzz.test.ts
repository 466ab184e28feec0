import test from 'ava';
import fc from 'fast-check';
import { ClientConnection, ServerConnection } from '../src/protocol/index.js';
import { feedAll, mutateAll, mutation, recordTranscript } from './helpers/mutate.js';
import { Endpoint, fixturePrivateKey, openPair } from './helpers/protocol-pair.js';

const serverKey = fixturePrivateKey('server-2048');

const recorded = recordTranscript();

test('mutated client streams into a fresh server fail only with coded errors', (t) => {
  fc.assert(
    fc.property(
      fc.array(mutation(recorded.client.length), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 4096 }),
      (ms, chunk) => {
        const data = mutateAll(recorded.client, ms);
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
        const data = mutateAll(recorded.server, ms);
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
