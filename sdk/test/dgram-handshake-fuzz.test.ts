/**
 * Mutated and random handshake packets (PROTOCOL.md §D1–§D3): the server's gate never
 * throws, never answers more bytes than it received and answers a stranger only with a
 * Cookie; the client never fails on a packet without its token, fails only with a coded
 * SessionError on one with it, and garbage leaves it able to finish.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { SessionError } from '../src/protocol/errors.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import { exchange, makeGate, SOURCE } from './helpers/dgram-handshake.js';
import { mutateAll, mutation } from './helpers/mutate.js';
import { fixturePrivateKey, fixturePublicKey } from './helpers/protocol-pair.js';

const serverPub = () => fixturePublicKey('server-2048');

/** Every packet of a KeyRequest exchange and of a client-authenticating one. */
const recorded = [
  ...exchange({}).packets,
  ...exchange({ serverKey: serverPub(), clientKey: fixturePrivateKey('client-2048') }).packets,
];
const toServer = recorded.filter((p) => p.from === 'client').map((p) => p.packet);
const toClient = recorded.filter((p) => p.from === 'server').map((p) => p.packet);

test('gate: any mutation of any client packet, with or without a valid cookie: no throw, no answer larger than the packet', (t) => {
  const { gate, jar } = makeGate();
  const cookie = jar.cookie(SOURCE)!;
  // Re-cookie the recorded packets for this jar, so mutations reach the parser too.
  const packets = toServer.map((p) => {
    const q = Buffer.from(p);
    if (q[0] !== 0x47 && q[17] === 16) cookie.copy(q, 18);
    return q;
  });
  const seen = new Set<string>();
  fc.assert(
    fc.property(
      fc.constantFrom(...packets.keys()),
      fc.array(mutation(1300), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      (index, ms, otherSource) => {
        const packet = mutateAll(packets[index]!, ms);
        const source = otherSource ? { address: '203.0.113.9', port: 1 } : SOURCE;
        const s = gate.screen(packet, source);
        seen.add(s.kind === 'reply' ? s.what : s.kind);
        if (s.kind === 'reply') {
          if (s.packet.length > packet.length) return false;
          if (otherSource && s.what !== 'cookie') return false;
        }
        if (s.kind === 'hello' && otherSource) return false;
        return true;
      },
    ),
    { numRuns: 3000, seed: 14 },
  );
  t.true(seen.has('drop') && seen.has('cookie') && seen.has('alert'), [...seen].join());
});

test('gate: random bytes of every type byte are dropped or get a Cookie at most', (t) => {
  const { gate } = makeGate();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ minLength: 0, maxLength: 1300 }),
      (type, body) => {
        const packet = Buffer.concat([Buffer.of(type), body]);
        const s = gate.screen(packet, SOURCE);
        return (
          s.kind === 'drop' || (s.kind === 'reply' && s.what === 'cookie' && s.packet.length <= packet.length)
        );
      },
    ),
    { numRuns: 3000, seed: 15 },
  );
  t.pass();
});

test('client: mutated server packets are ignored or fail with a coded SessionError, never anything else', (t) => {
  let failures = 0;
  let ignored = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...toClient.keys()),
      fc.array(mutation(700), { minLength: 1, maxLength: 3 }),
      (index, ms) => {
        const original = toClient[index]!;
        const packet = mutateAll(original, ms);
        // The client of the recorded exchange is gone; a fresh one with the same token would
        // need the same randomness. What matters: no packet makes a waiting client throw
        // anything but a coded SessionError.
        const client = new DatagramClientHandshake({ serverKey: serverPub() });
        client.start(0);
        const withToken = Buffer.from(packet);
        if (withToken.length >= 17) client.token.copy(withToken, 1);
        for (const p of [packet, withToken]) {
          try {
            const step = client.receive(p, 1);
            if (step.kind === 'ignore') ignored++;
          } catch (err) {
            if (!(err instanceof SessionError) || !/^ERR_/.test(err.code)) return false;
            failures++;
            return true;
          }
        }
        return true;
      },
    ),
    { numRuns: 1500, seed: 16 },
  );
  t.true(failures > 0 && ignored > 0, `${failures} failed, ${ignored} ignored`);
});

test('client: garbage and foreign-token packets before the real ServerHello change nothing', (t) => {
  const { gate, jar } = makeGate();
  const client = new DatagramClientHandshake({ serverKey: serverPub(), cookie: jar.cookie(SOURCE) });
  const s = gate.screen(client.start(0), SOURCE);
  if (s.kind !== 'hello') throw new Error(s.kind);
  const a = gate.acceptHello(s.hello, 0);
  if (a.kind !== 'handshake') throw a.error;
  const serverHello = a.handshake.decryptLocally();
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 400 }),
      fc.integer({ min: 0x41, max: 0x47 }),
      (body, type) => {
        const p = Buffer.concat([Buffer.of(type), Buffer.from(body)]);
        return client.receive(p, 1).kind === 'ignore';
      },
    ),
    { numRuns: 2000, seed: 17 },
  );
  t.is(client.state, 'awaitServerHello');
  t.is(client.receive(serverHello, 2).kind, 'open');
});
