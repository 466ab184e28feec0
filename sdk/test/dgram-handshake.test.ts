/**
 * The datagram handshake (PROTOCOL.md §D3) end to end in memory, and the client's receiver
 * rules: tokens, cookies, KeyResponse, ServerHello proof, alerts, retransmission schedule.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { fixturePublicKey } from './helpers/protocol-pair.js';
import { exchange } from './helpers/dgram-handshake.js';
import { ALL_SUITES } from '../src/protocol/suite.js';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import {
  decodeHelloPacket,
  decodeKeyRequestPacket,
  encodeAlertPacket,
  encodeCookiePacket,
  encodeKeyResponsePacket,
  encodeServerHelloPacket,
  decodeServerHelloPacket,
} from '../src/protocol/datagram/packets.js';
import { encodeKeyResponse } from '../src/protocol/handshake-messages.js';
import { oaepEncrypt } from '../src/protocol/asymmetric.js';
import { makeGate, SOURCE } from './helpers/dgram-handshake.js';
import type { DatagramServerHandshake } from '../src/protocol/datagram/server-handshake.js';

test('a full handshake with a known server key opens both sides; Data flows both ways', (t) => {
  const x = exchange({ serverKey: fixturePublicKey('server-2048') });
  t.deepEqual(x.clientResult.connectionId, x.serverResult.connectionId);
  t.is(x.clientResult.info.clientKey, null);
  t.is(x.serverResult.info.clientKey, null);
  t.true(x.clientResult.info.serverKey.equals(fixturePublicKey('server-2048')));
  const done = x.clientResult.inbound.open(x.handshakeDone);
  t.true(done.ok && done.type === DatagramRecordType.HandshakeDone);
  const up = x.serverResult.inbound.open(
    x.clientResult.outbound.seal(DatagramRecordType.Data, Buffer.from('up')),
  );
  t.true(up.ok && up.payload.toString() === 'up' && up.seq === 1);
  const down = x.clientResult.inbound.open(
    x.serverResult.outbound.seal(DatagramRecordType.Data, Buffer.from('down')),
  );
  t.true(down.ok && down.payload.toString() === 'down' && down.seq === 2);
});

const serverPub = () => fixturePublicKey('server-2048');

function cookieFor(c: DatagramClientHandshake, fill: number): Buffer {
  return encodeCookiePacket(c.token, Buffer.alloc(16, fill));
}

/** A client and a server handshake up to the client's ServerHello. */
function upToServerHello(clientOptions = {}): {
  client: DatagramClientHandshake;
  hs: DatagramServerHandshake;
  serverHello: Buffer;
} {
  const { gate, jar } = makeGate();
  const client = new DatagramClientHandshake({
    serverKey: serverPub(),
    cookie: jar.cookie(SOURCE),
    ...clientOptions,
  });
  const s = gate.screen(client.start(0), SOURCE);
  if (s.kind !== 'hello') throw new Error(s.kind);
  const a = gate.acceptHello(s.hello, 0);
  if (a.kind !== 'handshake') throw new Error(a.kind);
  return { client, hs: a.handshake, serverHello: a.handshake.decryptLocally() };
}

test('asking for the key: KeyRequest, Cookie, KeyRequest with cookie, KeyResponse → trust step → Hello carries the cookie', (t) => {
  const x = exchange({});
  const types = x.packets.map((p) => `${p.from}:${p.packet[0]!.toString(16)}`);
  t.deepEqual(types, [
    'client:41',
    'server:45',
    'client:41',
    'server:42',
    'client:43',
    'server:44',
    'client:47',
    'server:47',
  ]);
  const hello = decodeHelloPacket(x.packets[4]!.packet)!;
  t.deepEqual(hello.cookie, decodeKeyRequestPacket(x.packets[2]!.packet)!.cookie, 'the cookie is reused');
  t.deepEqual(hello.token, decodeKeyRequestPacket(x.packets[0]!.packet)!.token, 'one token per attempt');
  t.true(x.clientResult.info.serverKey.equals(serverPub()));
  for (let i = 0; i + 1 < 6; i += 2) {
    t.true(
      x.packets[i + 1]!.packet.length <= x.packets[i]!.packet.length,
      'no answer larger than its packet',
    );
  }
});

test('the trust decision may refuse (nothing more is sent) and may be asynchronous (no resends meanwhile; the deadline holds)', (t) => {
  const { gate, jar } = makeGate();
  const client = new DatagramClientHandshake({ cookie: jar.cookie(SOURCE) });
  const s = gate.screen(client.start(0), SOURCE);
  t.is(s.kind, 'reply');
  const step = client.receive((s as { packet: Buffer }).packet, 5);
  t.is(step.kind, 'serverKey');
  t.is(client.state, 'awaitKeyDecision');
  t.is(client.nextTimeout(), 10_000, 'only the deadline');
  t.is(client.onTimeout(9_999), null);
  t.throws(() => client.onTimeout(10_000), { code: 'ERR_TIMEOUT' });
  t.is(client.state, 'failed');
  t.throws(() => client.useServerKey(serverPub(), 10_001), { code: 'ERR_INVALID_STATE' });
});

test('client drops every answer whose token is not its attempt’s', (t) => {
  const { client, serverHello } = upToServerHello();
  const other = Buffer.alloc(16, 0xee);
  t.is(client.receive(encodeCookiePacket(other, Buffer.alloc(16, 1)), 1).kind, 'ignore');
  t.is(client.receive(encodeAlertPacket(other, 0x0005), 1).kind, 'ignore');
  const sh = decodeServerHelloPacket(serverHello)!;
  t.is(
    client.receive(encodeServerHelloPacket(other, sh.connectionId, sh.frame, sh.record), 1).kind,
    'ignore',
  );
  t.is(client.state, 'awaitServerHello', 'nothing changed');
  t.is(client.receive(serverHello, 2).kind, 'open');
});

test('Cookie: the same packet is resent with it at once; a repeat of the cookie in use is ignored; a 4th cookie fails', (t) => {
  const client = new DatagramClientHandshake({ serverKey: serverPub() });
  const first = client.start(0);
  t.is(decodeHelloPacket(first)!.cookie, null);
  const s1 = client.receive(cookieFor(client, 1), 50);
  t.is(s1.kind, 'send');
  const resent = decodeHelloPacket((s1 as { packet: Buffer }).packet)!;
  t.deepEqual(resent.cookie, Buffer.alloc(16, 1));
  t.deepEqual(resent.frame, decodeHelloPacket(first)!.frame, 'the same ClientHello');
  t.is(client.nextTimeout(), 450, 'the schedule restarts');
  t.is(client.receive(cookieFor(client, 1), 60).kind, 'ignore', 'a duplicate Cookie');
  t.deepEqual(client.cookie, Buffer.alloc(16, 1));
  t.is(client.receive(cookieFor(client, 2), 70).kind, 'send');
  t.is(client.receive(cookieFor(client, 3), 80).kind, 'send');
  t.throws(() => client.receive(cookieFor(client, 4), 90), { code: 'ERR_HANDSHAKE' });
  t.is(client.state, 'failed');
  t.is(client.receive(cookieFor(client, 5), 90).kind, 'ignore', 'finished: everything is ignored');
});

test('retransmission: identical packet after 400 ms, doubling to 4 s, until the handshake timeout', (t) => {
  const client = new DatagramClientHandshake({ serverKey: serverPub(), handshakeTimeout: 15_000 });
  const first = client.start(1_000);
  const at: number[] = [];
  let now = 1_000;
  for (let i = 0; i < 20; i++) {
    const next = client.nextTimeout()!;
    t.is(client.onTimeout(next - 1), null, 'nothing early');
    now = next;
    if (now >= 16_000) break;
    const p = client.onTimeout(now);
    t.deepEqual(p, first);
    at.push(now - 1_000);
  }
  t.deepEqual(at, [400, 1_200, 2_800, 6_000, 10_000, 14_000]);
  t.is(now, 16_000);
  t.throws(() => client.onTimeout(now), { code: 'ERR_TIMEOUT', message: /handshake timed out/ });
  t.is(client.nextTimeout(), null);
});

test('KeyResponse: only while asking for the key; an unusable key fails the handshake', (t) => {
  const client = new DatagramClientHandshake({ serverKey: serverPub() });
  client.start(0);
  const kr = encodeKeyResponsePacket(client.token, encodeKeyResponse(serverPub().toSpkiDer()));
  t.is(client.receive(kr, 1).kind, 'ignore', 'not asked for');
  const asking = new DatagramClientHandshake({});
  asking.start(0);
  const junk = encodeKeyResponsePacket(asking.token, encodeKeyResponse(Buffer.from('not a key')));
  t.throws(() => asking.receive(junk, 1), { code: 'ERR_HANDSHAKE', message: /unusable public key/ });
  const foreign = new DatagramClientHandshake({});
  foreign.start(0);
  const frame = encodeKeyResponse(serverPub().toSpkiDer());
  frame[4] = 0x00; // magic
  t.throws(() => foreign.receive(encodeKeyResponsePacket(foreign.token, frame), 1), {
    code: 'ERR_UNSUPPORTED_VERSION',
  });
  const trusting = new DatagramClientHandshake({});
  trusting.start(0);
  const step = trusting.receive(
    encodeKeyResponsePacket(trusting.token, encodeKeyResponse(serverPub().toSpkiDer())),
    1,
  );
  t.is(step.kind, 'serverKey');
  t.is(
    trusting.receive(encodeKeyResponsePacket(trusting.token, encodeKeyResponse(serverPub().toSpkiDer())), 2)
      .kind,
    'ignore',
    'a duplicate',
  );
});

test('Alert packet with the token ends the handshake with the error of its code', (t) => {
  for (const [code, err] of [
    [0x0002, 'ERR_UNSUPPORTED_VERSION'],
    [0x0003, 'ERR_SUITE_MISMATCH'],
    [0x0004, 'ERR_SERVER_KEY_MISMATCH'],
    [0x0005, 'ERR_HANDSHAKE'],
    [0x000b, 'ERR_TIMEOUT'],
    [0x000c, 'ERR_SERVER_BUSY'],
  ] as const) {
    const client = new DatagramClientHandshake({ serverKey: serverPub() });
    client.start(0);
    t.throws(() => client.receive(encodeAlertPacket(client.token, code), 1), { code: err });
    t.is(client.state, 'failed');
  }
});

test('ServerHello: a tampered hello, a wrong proof or a server without the key fails the proof; duplicates after open are ignored', (t) => {
  // Tampered server_random: the client derives other keys and the proof does not verify.
  {
    const { client, serverHello } = upToServerHello();
    const bad = Buffer.from(serverHello);
    bad[1 + 16 + 8 + 4 + 5 + 3]! ^= 1;
    t.throws(() => client.receive(bad, 1), { code: 'ERR_HANDSHAKE', message: /server proof did not verify/ });
  }
  // Tampered conn_id (in the hello and its record): th covers it.
  {
    const { client, serverHello } = upToServerHello();
    const sh = decodeServerHelloPacket(serverHello)!;
    const id = Buffer.from(sh.connectionId);
    id[0]! ^= 1;
    const record = Buffer.from(sh.record);
    id.copy(record, 1);
    t.throws(() => client.receive(encodeServerHelloPacket(client.token, id, sh.frame, record), 1), {
      code: 'ERR_HANDSHAKE',
      message: /server proof did not verify/,
    });
  }
  // A flipped bit in the ServerFinished record.
  {
    const { client, serverHello } = upToServerHello();
    const bad = Buffer.from(serverHello);
    bad[bad.length - 1]! ^= 1;
    t.throws(() => client.receive(bad, 1), { code: 'ERR_HANDSHAKE', message: /server proof did not verify/ });
  }
  // A server that cannot decrypt (the secret went to another key): implicit rejection, then
  // the proof fails at the client.
  {
    const other = fixturePublicKey('other-2048');
    const { client, serverHello } = upToServerHello({
      fixedEncryptedSecret: (s: Buffer) => oaepEncrypt(other.keyObject, s),
    });
    t.throws(() => client.receive(serverHello, 1), {
      code: 'ERR_HANDSHAKE',
      message: /server proof did not verify/,
    });
  }
  // A different suite in the ServerHello.
  {
    const { client, serverHello } = upToServerHello();
    const bad = Buffer.from(serverHello);
    bad[1 + 16 + 8 + 4 + 5 + 1] = 0x03;
    t.throws(() => client.receive(bad, 1), { code: 'ERR_HANDSHAKE', message: /different algorithm set/ });
  }
  const { client, serverHello } = upToServerHello();
  t.is(client.receive(serverHello, 1).kind, 'open');
  t.is(client.receive(serverHello, 2).kind, 'ignore');
  t.is(client.nextTimeout(), null);
  t.is(client.onTimeout(100_000), null);
});

test('every suite completes; the ServerFinished is s2c epoch 0 seq 0 and the ClientFinished c2s epoch 0 seq 0', (t) => {
  for (const suite of ALL_SUITES) {
    const set = { asymmetric: suite.asymmetric, symmetric: suite.symmetric, hash: suite.hash };
    const x = exchange({ serverKey: serverPub(), set });
    t.deepEqual(x.clientResult.info.suite.ids, suite.ids);
    t.deepEqual(x.serverResult.info.suite.ids, suite.ids);
    const cf = x.clientFinished;
    t.is(cf.readUInt32BE(9), 0);
    t.is(cf.readUIntBE(13, 6), 0);
    t.is(x.clientResult.outbound.seq, 1, 'Data starts at seq 1');
    t.is(x.serverResult.outbound.seq, 2, 'after ServerFinished and HandshakeDone');
  }
});

test('client options are checked', (t) => {
  t.throws(() => new DatagramClientHandshake({ serverKey: 'x' as never }), { instanceOf: TypeError });
  t.throws(() => new DatagramClientHandshake({ clientKey: serverPub() as never }), { instanceOf: TypeError });
  t.throws(() => new DatagramClientHandshake({ cookie: Buffer.alloc(15) }), { instanceOf: TypeError });
  t.throws(() => new DatagramClientHandshake({ handshakeTimeout: 0 }), { instanceOf: RangeError });
  const c = new DatagramClientHandshake({ serverKey: serverPub() });
  c.start(0);
  t.throws(() => c.start(0), { code: 'ERR_INVALID_STATE' });
  t.is(new DatagramClientHandshake({}).receive(Buffer.of(0x45), 0).kind, 'ignore', 'before start');
});
