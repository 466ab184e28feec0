/**
 * The server side of the datagram handshake (PROTOCOL.md §D2, §D3): the stateless gate
 * (cookie first, then §2's parse order, answers never larger than the packet, nothing
 * before RSA for strangers) and one handshake from its RSA step to HandshakeDone.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import type { PrivateKey } from '@secsess/keys';
import { pssSign, x25519Key, x25519Shared } from '../src/protocol/asymmetric.js';
import { CLIENT_AUTH_CONTEXT } from '../src/protocol/constants.js';
import { encodeClientHello, encodeKeyRequest } from '../src/protocol/handshake-messages.js';
import { ALL_SUITES, resolveSuite } from '../src/protocol/suite.js';
import { DatagramClientHandshake } from '../src/protocol/datagram/client-handshake.js';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';
import { DatagramInbound, DatagramOutbound } from '../src/protocol/datagram/contexts.js';
import { CookieJar } from '../src/protocol/datagram/cookie.js';
import {
  DGRAM_CLIENT_AUTH_CONTEXT,
  encodeClientFinished,
  handshakeSecrets,
} from '../src/protocol/datagram/handshake-keys.js';
import {
  decodeAlertPacket,
  decodeHelloPacket,
  decodeServerHelloPacket,
  encodeHelloPacket,
  encodeKeyRequestPacket,
} from '../src/protocol/datagram/packets.js';
import { DatagramHandshakeGate, serverHelloSize } from '../src/protocol/datagram/server-gate.js';
import type { Screened, ScreenedHello } from '../src/protocol/datagram/server-gate.js';
import type { DatagramServerHandshake } from '../src/protocol/datagram/server-handshake.js';
import { verifyClientSignature } from '../src/protocol/datagram/server-handshake.js';
import { Clock, SOURCE, exchange, makeGate, serverKey } from './helpers/dgram-handshake.js';
import { fixturePrivateKey, fixturePublicKey } from './helpers/protocol-pair.js';
import { seededRandom } from './helpers/vectors.js';

const serverPub = () => fixturePublicKey('server-2048');
const token = Buffer.alloc(16, 0x7e);

function hello(
  opts: {
    suite?: [number, number, number];
    flags?: number;
    keyId?: Buffer;
    ct?: number;
    ephemeral?: Buffer;
  } = {},
): Buffer {
  return encodeClientHello({
    suiteIds: opts.suite ?? [1, 2, 1],
    flags: opts.flags ?? 0,
    random: Buffer.alloc(32, 1),
    ephemeral: opts.ephemeral ?? x25519Key().publicRaw,
    keyId: opts.keyId ?? serverPub().fingerprintBytes(),
    encryptedSecret: Buffer.alloc(opts.ct ?? 256, 4),
  });
}

function alertCode(s: Screened): number {
  if (s.kind !== 'reply' || s.what !== 'alert') throw new Error(`expected an alert, got ${s.kind}`);
  return decodeAlertPacket(s.packet)!.code;
}

function admitted(gate: DatagramHandshakeGate, s: Screened): DatagramServerHandshake {
  if (s.kind !== 'hello') throw new Error(s.kind);
  const a = gate.acceptHello(s.hello, 0);
  if (a.kind !== 'handshake') throw a.error;
  return a.handshake;
}

test('no or bad cookie: a 33-byte Cookie and nothing else, for KeyRequest and Hello alike', (t) => {
  const { gate, jar } = makeGate();
  const packets = [
    encodeKeyRequestPacket(token, null, encodeKeyRequest()),
    encodeKeyRequestPacket(token, Buffer.alloc(16, 9), encodeKeyRequest()),
    encodeHelloPacket(token, null, hello()),
    encodeHelloPacket(token, Buffer.alloc(16, 9), hello()),
    // Nothing after the cookie is looked at: a foreign preamble still gets a Cookie.
    encodeHelloPacket(token, null, Buffer.concat([hello().subarray(0, 4), Buffer.alloc(hello().length - 4)])),
  ];
  for (const p of packets) {
    const s = gate.screen(p, SOURCE);
    t.is(s.kind, 'reply');
    if (s.kind !== 'reply') continue;
    t.is(s.what, 'cookie');
    t.is(s.packet.length, 33);
    t.deepEqual(s.packet.subarray(1, 17), token, 'the token is copied');
    t.deepEqual(s.packet.subarray(17), jar.cookie(SOURCE));
  }
  // Another source's cookie is no cookie for this one.
  const other = jar.cookie({ address: '127.0.0.2', port: SOURCE.port })!;
  t.is((gate.screen(encodeHelloPacket(token, other, hello()), SOURCE) as { what: string }).what, 'cookie');
});

test('a cookie expires after 120 s: the Hello then gets a fresh Cookie (injected clock)', (t) => {
  const clock = new Clock();
  const { gate, jar } = makeGate({}, clock);
  const cookie = jar.cookie(SOURCE)!;
  t.is(gate.screen(encodeHelloPacket(token, cookie, hello()), SOURCE).kind, 'hello');
  clock.t += 119_999;
  t.is(gate.screen(encodeHelloPacket(token, cookie, hello()), SOURCE).kind, 'hello');
  clock.t += 1;
  const s = gate.screen(encodeHelloPacket(token, cookie, hello()), SOURCE);
  t.is(s.kind === 'reply' && s.what, 'cookie');
});

test('KeyRequest with a valid cookie: the KeyResponse, smaller than the 1200-byte request', (t) => {
  const { gate, jar } = makeGate({ keys: [fixturePrivateKey('server-4096'), serverKey()] });
  const p = encodeKeyRequestPacket(token, jar.cookie(SOURCE), encodeKeyRequest());
  const s = gate.screen(p, SOURCE);
  t.true(s.kind === 'reply' && s.what === 'keyResponse');
  if (s.kind !== 'reply') return;
  t.true(s.packet.length <= 578 && s.packet.length < p.length);
  t.true(s.packet.includes(fixturePublicKey('server-4096').toSpkiDer()), 'the first key');
  const foreign = encodeKeyRequest();
  foreign[4] = 0x00;
  t.is(alertCode(gate.screen(encodeKeyRequestPacket(token, jar.cookie(SOURCE), foreign), SOURCE)), 0x0002);
});

test('Hello with a valid cookie is parsed in §2 order; each refusal is a 19-byte Alert with Part I’s code', (t) => {
  const { gate, jar } = makeGate({ suites: [resolveSuite()] });
  const cookie = jar.cookie(SOURCE);
  const send = (frame: Buffer) => gate.screen(encodeHelloPacket(token, cookie, frame), SOURCE);
  const foreign = hello();
  foreign[4] = 0x00;
  t.is(alertCode(send(foreign)), 0x0002, 'preamble: UnsupportedVersion');
  const version = hello();
  version[8] = 0x02;
  t.is(alertCode(send(version)), 0x0002);
  t.is(alertCode(send(hello({ flags: 0x02 }))), 0x0005, 'reserved flag: HandshakeFailed');
  const short = hello().subarray(0, 50);
  short.writeUIntBE(46, 1, 3);
  t.is(alertCode(send(short)), 0x0005, 'structure: HandshakeFailed');
  t.is(alertCode(send(hello({ suite: [1, 9, 1] }))), 0x0003, 'no such suite: SuiteMismatch');
  t.is(alertCode(send(hello({ suite: [1, 3, 1] }))), 0x0003, 'a suite this server does not accept');
  t.is(alertCode(send(hello({ suite: [1, 9, 1], keyId: Buffer.alloc(32) }))), 0x0003, 'suite before key_id');
  t.is(alertCode(send(hello({ keyId: Buffer.alloc(32) }))), 0x0004, 'key_id: UnknownServerKey');
  const s = send(hello());
  t.is(s.kind, 'hello');
  if (s.kind === 'reply') t.is(s.packet.length, 19);
  const refusal = gate.refuse((s as { hello: ScreenedHello }).hello);
  t.is(refusal.length, 19);
  t.is(decodeAlertPacket(refusal)!.code, 0x000c, 'ServerBusy for the rate limit and admission');
});

test('packets a server never takes, and garbage, are dropped unanswered', (t) => {
  const { gate } = makeGate();
  for (const p of [
    Buffer.of(0x42),
    Buffer.alloc(100, 0x44),
    Buffer.alloc(33, 0x45),
    Buffer.alloc(19, 0x46),
    Buffer.alloc(200, 0x47),
    Buffer.alloc(1200, 0x00),
    Buffer.alloc(0),
    encodeKeyRequestPacket(token, null, encodeKeyRequest()).subarray(0, 1199),
    Buffer.concat([encodeHelloPacket(token, null, hello()), Buffer.of(0)]),
  ]) {
    t.is(gate.screen(p, SOURCE).kind, 'drop');
  }
  // A tiny well-formed Hello: the 33-byte Cookie would be larger than it, so nothing.
  const tiny = encodeHelloPacket(token, null, Buffer.from([0x03, 0, 0, 0]));
  t.true(tiny.length < 33);
  t.is(gate.screen(tiny, SOURCE).kind, 'drop');
  // A source that is not an IP address gets no cookie.
  t.is(gate.screen(encodeHelloPacket(token, null, hello()), { address: 'nowhere', port: 1 }).kind, 'drop');
});

test('amplification bound: a Hello too small for its ServerHello is dropped before RSA; every answer ≤ its packet', (t) => {
  const { gate, jar } = makeGate();
  const cookie = jar.cookie(SOURCE);
  for (const suite of ALL_SUITES) {
    const need = serverHelloSize(suite);
    t.true(need <= 280, `${suite.symmetric}/${suite.hash}: ServerHello ${need} bytes`);
    // A Hello of exactly that size passes; one byte less is dropped.
    const base = 1 + 16 + 1 + 16 + 4 + 5 + 3 + 1 + 96 + 2;
    const fits = encodeHelloPacket(token, cookie, hello({ suite: [...suite.ids], ct: need - base }));
    t.is(fits.length, need);
    t.is(gate.screen(fits, SOURCE).kind, 'hello');
    const under = encodeHelloPacket(token, cookie, hello({ suite: [...suite.ids], ct: need - base - 1 }));
    t.is(gate.screen(under, SOURCE).kind, 'drop');
  }
  for (const name of ['server-2048', 'server-3072', 'server-4096']) {
    for (const suite of ALL_SUITES) {
      const set = { asymmetric: suite.asymmetric, symmetric: suite.symmetric, hash: suite.hash };
      const x = exchange({ serverKey: fixturePublicKey(name), set }, { keys: [fixturePrivateKey(name)] });
      for (let i = 0; i + 1 < x.packets.length - 2; i += 2) {
        t.true(x.packets[i + 1]!.packet.length <= x.packets[i]!.packet.length, `${name} ${suite.symmetric}`);
      }
    }
  }
});

test('an all-zero X25519 share is refused with HandshakeFailed before any RSA', (t) => {
  const { gate, jar } = makeGate();
  const s = gate.screen(
    encodeHelloPacket(token, jar.cookie(SOURCE), hello({ ephemeral: Buffer.alloc(32) })),
    SOURCE,
  );
  t.is(s.kind, 'hello');
  if (s.kind !== 'hello') return;
  const a = gate.acceptHello(s.hello, 0);
  t.is(a.kind, 'refuse');
  if (a.kind !== 'refuse') return;
  t.is(a.error.code, 'ERR_HANDSHAKE');
  t.is(decodeAlertPacket(a.packet)!.code, 0x0005);
});

/** A client and server handshake with fixed randoms, so the test can recompute c2s_0. */
function fixed(clientKey?: PrivateKey, serverOptions = {}) {
  const clientX = seededRandom('t client x25519')(32);
  const serverX = seededRandom('t server x25519')(32);
  const { gate, jar } = makeGate({ ephemeralPrivate: serverX, ...serverOptions });
  const client = new DatagramClientHandshake({
    serverKey: serverPub(),
    cookie: jar.cookie(SOURCE),
    random: seededRandom('t client'),
    ephemeralPrivate: clientX,
    ...(clientKey ? { clientKey } : {}),
  });
  const helloPacket = client.start(0);
  const s = gate.screen(helloPacket, SOURCE);
  const hs = admitted(gate, s);
  const serverHello = hs.decryptLocally();
  const step = client.receive(serverHello, 1);
  if (step.kind !== 'open') throw new Error(step.kind);
  // Recompute the keys from the fixed inputs (as the client drew them: token, random, pre_secret).
  const r = seededRandom('t client');
  r(16);
  const clientRandom = r(32);
  const preSecret = r(64);
  const sh = decodeServerHelloPacket(serverHello)!;
  const suite = resolveSuite();
  const secrets = handshakeSecrets(suite, {
    preSecret,
    shared: x25519Shared(x25519Key(clientX).privateKey, x25519Key(serverX).publicRaw),
    clientRandom,
    serverRandom: sh.frame.subarray(12, 44),
    clientHello: decodeHelloPacket(helloPacket)!.frame,
    serverHello: sh.frame,
    connectionId: sh.connectionId,
  });
  const c2s = () => new DatagramOutbound(secrets.c2s, { connectionId: Buffer.from(sh.connectionId) });
  return { gate, jar, client, hs, serverHello, step, secrets, c2s, helloPacket, screened: s };
}

test('ServerHello resent for the same (source, token) at most 3 times, identical, and only once replied', (t) => {
  const { gate, jar } = makeGate();
  const client = new DatagramClientHandshake({ serverKey: serverPub(), cookie: jar.cookie(SOURCE) });
  const helloPacket = client.start(0);
  const s = gate.screen(helloPacket, SOURCE);
  const hs = admitted(gate, s);
  const again = gate.screen(helloPacket, SOURCE) as { kind: 'hello'; hello: ScreenedHello };
  t.is(again.hello.id, hs.id, 'the transport finds the handshake by id');
  t.is(hs.repeatHello(again.hello), null, 'RSA still running: nothing');
  const sh = hs.decryptLocally();
  t.deepEqual(hs.repeatHello(again.hello), sh);
  t.deepEqual(hs.repeatHello(again.hello), sh);
  t.deepEqual(hs.repeatHello(again.hello), sh);
  t.is(hs.repeatHello(again.hello), null, 'a 4th time: nothing');
  const moved = gate.screen(helloPacket, { ...SOURCE, port: SOURCE.port + 1 });
  t.is(moved.kind === 'reply' && moved.what, 'cookie', 'another port is another source');
  const otherHello = (() => {
    const d = decodeHelloPacket(helloPacket)!;
    const frame = Buffer.from(d.frame);
    frame[frame.length - 1]! ^= 1;
    return gate.screen(encodeHelloPacket(d.token, d.cookie, frame), SOURCE) as {
      kind: 'hello';
      hello: ScreenedHello;
    };
  })();
  t.is(otherHello.hello.id, hs.id);
  const hs2 = admitted(gate, gate.screen(helloPacket, SOURCE));
  hs2.decryptLocally();
  t.is(hs2.repeatHello(otherHello.hello), null, 'a different ClientHello under the same token: nothing');
  t.throws(() => hs.completeDecrypt(null), { code: 'ERR_INVALID_STATE' });
});

test('implicit rejection: a failed decryption still answers a ServerHello of the same size; the client fails the proof', (t) => {
  for (const secret of [null, Buffer.alloc(63, 1), Buffer.alloc(65, 1)]) {
    const { gate, jar } = makeGate();
    const client = new DatagramClientHandshake({ serverKey: serverPub(), cookie: jar.cookie(SOURCE) });
    const hs = admitted(gate, gate.screen(client.start(0), SOURCE));
    const sh = hs.completeDecrypt(secret);
    t.is(sh.length, serverHelloSize(resolveSuite()));
    t.is(hs.state, 'awaitFinished');
    t.throws(() => client.receive(sh, 1), { code: 'ERR_HANDSHAKE', message: /server proof did not verify/ });
  }
  const { gate, jar } = makeGate({ keys: [serverPub()] });
  const client = new DatagramClientHandshake({ serverKey: serverPub(), cookie: jar.cookie(SOURCE) });
  const hs = admitted(gate, gate.screen(client.start(0), SOURCE));
  t.deepEqual(hs.decryptRequest.keyIndex, 0);
  t.throws(() => hs.decryptLocally(), { code: 'ERR_INVALID_STATE' }, 'the private key is elsewhere');
});

test('records before the ClientFinished: only c2s epoch 0 seq 0 is opened; others, forgeries and other keys drop with no state change', (t) => {
  const f = fixed();
  const { hs, step } = f;
  const out = f.c2s();
  const cf = out.seal(DatagramRecordType.ClientFinished, encodeClientFinished(null, null));
  t.deepEqual(cf.subarray(0, 19), step.clientFinished.subarray(0, 19));
  const check = new DatagramInbound(f.secrets.c2s, { connectionId: hs.connectionId });
  t.true(check.open(step.clientFinished).ok, 'the test derives the same c2s_0 as the client');
  const early = out.seal(DatagramRecordType.Data, Buffer.from('early'));
  t.is(hs.receiveRecord(early, 1).kind, 'drop', 'Data at seq 1 before the ClientFinished');
  const forged = Buffer.from(step.clientFinished);
  forged[forged.length - 1]! ^= 1;
  t.is(hs.receiveRecord(forged, 1).kind, 'drop', 'a forged ClientFinished');
  const foreignId = Buffer.from(step.clientFinished);
  foreignId[1]! ^= 1;
  t.is(hs.receiveRecord(foreignId, 1).kind, 'drop', 'another conn_id');
  const epoch1 = Buffer.from(step.clientFinished);
  epoch1.writeUInt32BE(1, 9);
  t.is(hs.receiveRecord(epoch1, 1).kind, 'drop', 'epoch 1');
  const other = Buffer.from(fixed().step.clientFinished);
  hs.connectionId.copy(other, 1);
  t.is(hs.receiveRecord(other, 1).kind, 'drop', 'another handshake’s keys under this conn_id');
  t.is(hs.receiveRecord(Buffer.alloc(10, 0x47), 1).kind, 'drop');
  t.is(hs.state, 'awaitFinished', 'nothing changed');
  t.is(hs.receiveRecord(step.clientFinished, hs.deadline).kind, 'drop', 'past the handshake timeout');
  const r = hs.receiveRecord(step.clientFinished, 2);
  t.deepEqual(r, { kind: 'authorize', clientKey: null });
  t.is(hs.receiveRecord(step.clientFinished, 3).kind, 'drop', 'a duplicate ClientFinished');
  const { result, handshakeDone } = hs.accept();
  t.is(result.info.clientKey, null);
  const done = step.result.inbound.open(handshakeDone);
  t.true(done.ok && done.type === DatagramRecordType.HandshakeDone && done.payload.length === 0);
  t.throws(() => hs.accept(), { code: 'ERR_INVALID_STATE' });
});

test('a first record that opens but is not a ClientFinished ends the handshake (no answer)', (t) => {
  const f = fixed();
  const data = f.c2s().seal(DatagramRecordType.Data, Buffer.from('hi'));
  t.throws(() => f.hs.receiveRecord(data, 1), { code: 'ERR_HANDSHAKE', message: /not a ClientFinished/ });
  t.is(f.hs.state, 'failed');
  t.is(f.hs.receiveRecord(f.step.clientFinished, 2).kind, 'drop');
});

test('ClientFinished checks in §6 order: shape, key, membership (before any signature), signature, then authorization', (t) => {
  const clientKey = fixturePrivateKey('client-2048');
  // Shape: 00 after announcing authentication.
  {
    const f = fixed(clientKey);
    const cf = f.c2s().seal(DatagramRecordType.ClientFinished, encodeClientFinished(null, null));
    t.throws(() => f.hs.receiveRecord(cf, 1), { code: 'ERR_NOT_AUTHORIZED' });
  }
  // Shape: authentication without announcing it.
  {
    const f = fixed();
    const sig = pssSign(clientKey.keyObject, Buffer.concat([DGRAM_CLIENT_AUTH_CONTEXT, f.secrets.th]));
    const cf = f
      .c2s()
      .seal(DatagramRecordType.ClientFinished, encodeClientFinished(clientKey.publicKey.toSpkiDer(), sig));
    t.throws(() => f.hs.receiveRecord(cf, 1), { code: 'ERR_NOT_AUTHORIZED' });
  }
  // Key: not an RSA key of 2048–4096 bits.
  {
    const f = fixed(clientKey);
    const cf = f
      .c2s()
      .seal(DatagramRecordType.ClientFinished, encodeClientFinished(Buffer.from('junk'), Buffer.alloc(256)));
    t.throws(() => f.hs.receiveRecord(cf, 1), { code: 'ERR_CLIENT_KEY_UNSUPPORTED' });
  }
  // Membership: refused before any verification (no 'verify' step).
  {
    let asked = 0;
    const f = fixed(clientKey, {
      clientKeyAllowed: () => {
        asked++;
        return false;
      },
    });
    t.throws(() => f.hs.receiveRecord(f.step.clientFinished, 1), {
      code: 'ERR_NOT_AUTHORIZED',
      message: /key not authorized/,
    });
    t.is(asked, 1);
  }
  // Signature: the datagram label verifies; Part I's label over the same th does not.
  {
    const f = fixed(clientKey);
    const r = f.hs.receiveRecord(f.step.clientFinished, 1);
    t.is(r.kind, 'verify');
    if (r.kind !== 'verify') return;
    t.deepEqual(
      r.request.message,
      Buffer.concat([Buffer.from('secsess v1 dgram client auth\0'), f.secrets.th]),
    );
    t.true(verifyClientSignature(r.request));
    const done = f.hs.completeVerify(true);
    t.is(done.kind, 'authorize');
    t.true(done.kind === 'authorize' && done.clientKey!.equals(clientKey.publicKey));
    t.true(f.hs.accept().result.info.clientKey!.equals(clientKey.publicKey));
  }
  {
    const f = fixed(clientKey);
    const sig = pssSign(clientKey.keyObject, Buffer.concat([CLIENT_AUTH_CONTEXT, f.secrets.th]));
    const cf = f
      .c2s()
      .seal(DatagramRecordType.ClientFinished, encodeClientFinished(clientKey.publicKey.toSpkiDer(), sig));
    const r = f.hs.receiveRecord(cf, 1);
    t.is(r.kind, 'verify');
    if (r.kind !== 'verify') return;
    t.false(verifyClientSignature(r.request), 'a stream-label signature');
    t.throws(() => f.hs.completeVerify(false), { code: 'ERR_NOT_AUTHORIZED' });
    t.is(f.hs.state, 'failed');
  }
  // A client's own view of its identity.
  const x = exchange({ serverKey: serverPub(), clientKey });
  t.true(x.verified === true);
  t.true(x.clientResult.info.clientKey!.equals(clientKey.publicKey));
  t.true(x.serverResult.info.clientKey!.equals(clientKey.publicKey));
});

test('gate options are checked', (t) => {
  const cookies = new CookieJar();
  t.throws(() => new DatagramHandshakeGate({ keys: [], cookies }), { instanceOf: TypeError });
  t.throws(() => new DatagramHandshakeGate({ keys: ['x' as never], cookies }), { instanceOf: TypeError });
  t.throws(() => new DatagramHandshakeGate({ keys: [serverKey()], cookies: {} as never }), {
    instanceOf: TypeError,
  });
  t.throws(() => new DatagramHandshakeGate({ keys: [serverKey()], cookies, handshakeTimeout: -1 }), {
    instanceOf: RangeError,
  });
});

test('conn_id: drawn until free', (t) => {
  const seen: string[] = [];
  const { gate, jar } = makeGate({
    connectionIdInUse: (id) => (seen.push(id.toString('hex')), seen.length < 3),
  });
  const client = new DatagramClientHandshake({ serverKey: serverPub(), cookie: jar.cookie(SOURCE) });
  const hs = admitted(gate, gate.screen(client.start(0), SOURCE));
  t.is(seen.length, 3);
  t.is(hs.connectionId.toString('hex'), seen[2]!);
});
