/**
 * PROTOCOL.md §D1 packet layouts (strict: every wrong size or stray byte is a drop) and
 * §D2 cookies (address binding, the 60–120 s life under an injected clock).
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import {
  encodeClientHello,
  encodeKeyRequest,
  encodeKeyResponse,
  encodeServerHello,
} from '../src/protocol/handshake-messages.js';
import {
  decodeAlertPacket,
  decodeCookiePacket,
  decodeHelloPacket,
  decodeKeyRequestPacket,
  decodeKeyResponsePacket,
  decodeServerHelloPacket,
  encodeAlertPacket,
  encodeCookiePacket,
  encodeHelloPacket,
  encodeKeyRequestPacket,
  encodeKeyResponsePacket,
  encodeServerHelloPacket,
  packetType,
} from '../src/protocol/datagram/packets.js';
import { CookieJar, addressBytes, computeCookie } from '../src/protocol/datagram/cookie.js';
import { Clock } from './helpers/dgram-handshake.js';
import { fixturePublicKey } from './helpers/protocol-pair.js';

const token = Buffer.alloc(16, 0xaa);
const cookie = Buffer.alloc(16, 0xcc);
const connId = Buffer.alloc(8, 0x11);

function clientHelloFrame(ctLength = 256): Buffer {
  return encodeClientHello({
    suiteIds: [1, 2, 1],
    flags: 0,
    random: Buffer.alloc(32, 1),
    ephemeral: Buffer.alloc(32, 9),
    keyId: Buffer.alloc(32, 3),
    encryptedSecret: Buffer.alloc(ctLength, 4),
  });
}

function serverHelloFrame(): Buffer {
  return encodeServerHello({
    suiteIds: [1, 2, 1],
    random: Buffer.alloc(32, 5),
    ephemeral: Buffer.alloc(32, 6),
  });
}

function fakeRecord(id = connId, bodyLength = 96): Buffer {
  return Buffer.concat([Buffer.of(0x47), id, Buffer.alloc(10), Buffer.alloc(bodyLength, 7)]);
}

test('KeyRequest: exactly 1200 bytes, zero padding, cookie 0 or 16; anything else drops', (t) => {
  for (const c of [null, cookie]) {
    const p = encodeKeyRequestPacket(token, c, encodeKeyRequest());
    t.is(p.length, 1200);
    const d = decodeKeyRequestPacket(p)!;
    t.deepEqual(d.token, token);
    t.deepEqual(d.cookie, c);
    t.deepEqual(d.frame, encodeKeyRequest());
    t.is(decodeKeyRequestPacket(p.subarray(0, 1199)), null, 'short');
    t.is(decodeKeyRequestPacket(Buffer.concat([p, Buffer.of(0)])), null, 'long');
    const dirty = Buffer.from(p);
    dirty[1199] = 1;
    t.is(decodeKeyRequestPacket(dirty), null, 'non-zero padding');
    const wrongType = Buffer.from(p);
    wrongType[0] = 0x43;
    t.is(decodeKeyRequestPacket(wrongType), null);
  }
  const p = encodeKeyRequestPacket(token, null, encodeKeyRequest());
  const badLen = Buffer.from(p);
  badLen[17] = 5;
  t.is(decodeKeyRequestPacket(badLen), null, 'cookie_len other than 0 or 16');
  const badFrame = Buffer.from(p);
  badFrame[18] = 0x03; // a ClientHello frame type where the KeyRequest frame goes
  t.is(decodeKeyRequestPacket(badFrame), null);
  const longFrame = Buffer.from(p);
  longFrame.writeUIntBE(6, 19, 3); // frame claims 6 body bytes: its 6th is padding, still in bounds
  t.truthy(decodeKeyRequestPacket(longFrame), 'structure only; the body is judged by the server (preamble)');
  const hugeFrame = Buffer.from(p);
  hugeFrame.writeUIntBE(5000, 19, 3);
  t.is(decodeKeyRequestPacket(hugeFrame), null, 'a frame running past the packet');
});

test('Hello: at most 1232 bytes, the frame fills the rest exactly', (t) => {
  const frame = clientHelloFrame();
  for (const c of [null, cookie]) {
    const p = encodeHelloPacket(token, c, frame);
    const d = decodeHelloPacket(p)!;
    t.deepEqual(d.cookie, c);
    t.deepEqual(d.frame, frame);
    t.is(decodeHelloPacket(Buffer.concat([p, Buffer.of(0)])), null, 'trailing byte');
    t.is(decodeHelloPacket(p.subarray(0, p.length - 1)), null, 'truncated');
  }
  const big = clientHelloFrame(1232 - 18 - 111 + 1);
  t.throws(() => encodeHelloPacket(token, null, big), { instanceOf: RangeError });
  const maxed = encodeHelloPacket(token, null, clientHelloFrame(1232 - 18 - 111));
  t.is(maxed.length, 1232);
  t.truthy(decodeHelloPacket(maxed));
  const over = Buffer.concat([maxed, Buffer.of(0)]);
  over.writeUIntBE(over.readUIntBE(19, 3) + 1, 19, 3);
  t.is(decodeHelloPacket(over), null, '1233 bytes');
});

test('KeyResponse, Cookie, Alert, ServerHello: exact layouts', (t) => {
  const kr = encodeKeyResponse(fixturePublicKey('server-4096').toSpkiDer());
  const krp = encodeKeyResponsePacket(token, kr);
  t.true(krp.length <= 578, 'at most 578 bytes (4096-bit key)');
  t.deepEqual(decodeKeyResponsePacket(krp)!.frame, kr);
  t.is(decodeKeyResponsePacket(Buffer.concat([krp, Buffer.of(0)])), null);
  t.is(decodeKeyResponsePacket(krp.subarray(0, krp.length - 1)), null);

  const cp = encodeCookiePacket(token, cookie);
  t.is(cp.length, 33);
  t.deepEqual(decodeCookiePacket(cp)!.cookie, cookie);
  t.is(decodeCookiePacket(cp.subarray(0, 32)), null);
  t.is(decodeCookiePacket(Buffer.concat([cp, Buffer.of(0)])), null);

  const ap = encodeAlertPacket(token, 0x0008);
  t.is(ap.length, 19);
  t.is(decodeAlertPacket(ap)!.code, 0x0008);
  t.is(decodeAlertPacket(ap.subarray(0, 18)), null);
  t.is(decodeAlertPacket(Buffer.concat([ap, Buffer.of(0)])), null);

  const sh = serverHelloFrame();
  const shp = encodeServerHelloPacket(token, connId, sh, fakeRecord());
  const d = decodeServerHelloPacket(shp)!;
  t.deepEqual(d.connectionId, connId);
  t.deepEqual(d.frame, sh);
  t.deepEqual(d.record, fakeRecord());
  t.is(
    decodeServerHelloPacket(encodeServerHelloPacket(token, connId, sh, fakeRecord(Buffer.alloc(8, 0x22)))),
    null,
    'record of another conn_id',
  );
  t.is(decodeServerHelloPacket(shp.subarray(0, 1 + 16 + 8 + sh.length + 18)), null, 'no whole record header');
  const notRecord = Buffer.from(shp);
  notRecord[1 + 16 + 8 + sh.length] = 0x41;
  t.is(decodeServerHelloPacket(notRecord), null);
});

test('packetType: only 0x41–0x47; empty and oversized payloads are nothing', (t) => {
  t.is(packetType(Buffer.of(0x41)), 0x41);
  t.is(packetType(Buffer.of(0x47)), 0x47);
  t.is(packetType(Buffer.of(0x40)), null);
  t.is(packetType(Buffer.of(0x48)), null);
  t.is(packetType(Buffer.alloc(0)), null);
  t.is(packetType(Buffer.alloc(65_508, 0x41)), null);
});

test('addressBytes: IPv4, IPv6, IPv4-mapped IPv6 counts as IPv4, zones ignored, junk refused', (t) => {
  t.deepEqual(addressBytes('192.0.2.1'), { family: 4, bytes: Buffer.from([192, 0, 2, 1]) });
  t.deepEqual(addressBytes('::ffff:192.0.2.1'), { family: 4, bytes: Buffer.from([192, 0, 2, 1]) });
  t.deepEqual(addressBytes('::ffff:c000:201'), { family: 4, bytes: Buffer.from([192, 0, 2, 1]) });
  const v6 = addressBytes('2001:db8::1')!;
  t.is(v6.family, 6);
  t.is(v6.bytes.toString('hex'), '20010db8000000000000000000000001');
  t.is(addressBytes('::1')!.bytes.toString('hex'), '00000000000000000000000000000001');
  t.is(addressBytes('::')!.bytes.toString('hex'), '0'.repeat(32));
  t.deepEqual(addressBytes('fe80::1%eth0')!.bytes, addressBytes('fe80::1')!.bytes);
  t.is(addressBytes('1:2:3:4:5:6:7:8')!.bytes.toString('hex'), '00010002000300040005000600070008');
  for (const bad of [
    '',
    'localhost',
    '1.2.3',
    '1.2.3.256',
    '01.2.3.4',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    ':::',
  ]) {
    t.is(addressBytes(bad), null, bad);
  }
});

test('cookie: §D2 formula, bound to family, address and port', (t) => {
  const secret = Buffer.alloc(32, 0x5a);
  const c = computeCookie(secret, { address: '192.0.2.1', port: 4433 })!;
  t.is(c.length, 16);
  t.deepEqual(computeCookie(secret, { address: '::ffff:192.0.2.1', port: 4433 }), c, 'mapped = IPv4');
  t.notDeepEqual(computeCookie(secret, { address: '192.0.2.2', port: 4433 }), c);
  t.notDeepEqual(computeCookie(secret, { address: '192.0.2.1', port: 4434 }), c);
  t.notDeepEqual(computeCookie(Buffer.alloc(32, 0x5b), { address: '192.0.2.1', port: 4433 }), c);
  t.is(computeCookie(secret, { address: 'example.com', port: 1 }), null);
  t.is(computeCookie(secret, { address: '192.0.2.1', port: 70_000 }), null);
});

test('CookieJar: verifies under the current and previous secret, for 60–120 s (injected clock)', (t) => {
  const clock = new Clock();
  const jar = new CookieJar({ now: clock.now });
  const src = { address: '198.51.100.7', port: 5000 };
  const c = jar.cookie(src)!;
  t.true(jar.verify(src, c));
  t.false(jar.verify({ ...src, port: 5001 }, c), 'other port');
  t.false(jar.verify({ ...src, address: '198.51.100.8' }, c), 'other address');
  t.false(jar.verify(src, null));
  t.false(jar.verify(src, c.subarray(0, 15)));
  const flipped = Buffer.from(c);
  flipped[15]! ^= 1;
  t.false(jar.verify(src, flipped));
  clock.t += 60_000;
  t.true(jar.verify(src, c), 'previous secret');
  const c2 = jar.cookie(src)!;
  t.notDeepEqual(c2, c, 'a new secret');
  clock.t += 59_999;
  t.true(jar.verify(src, c), 'still the previous secret');
  clock.t += 1;
  t.false(jar.verify(src, c), 'expired after 120 s');
  t.true(jar.verify(src, c2));
  clock.t += 120_000;
  t.false(jar.verify(src, c2), 'two periods without a call: both secrets new');
  jar.destroy();
  t.is(jar.cookie(src), null);
  t.false(jar.verify(src, jar.cookie(src)));
});
