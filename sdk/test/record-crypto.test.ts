import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { CbcDecryptor, CbcEncryptor, gcmOpen } from '../src/protocol/ciphers.js';
import {
  HkdfPrk,
  HmacKey,
  createRandomPool,
  digestMatches,
  hkdf,
  randomSecret,
  secretCopy,
  secureRandom,
} from '../src/protocol/crypto.js';
import { decodeTicketState, encodeTicketState } from '../src/protocol/ticket.js';
import { x25519Key, x25519Shared } from '../src/protocol/asymmetric.js';
import { RecordType } from '../src/protocol/constants.js';
import { ErrorCode } from '../src/protocol/errors.js';
import { RecordSealer } from '../src/protocol/record-layer.js';
import { RecordOpener } from '../src/protocol/record-opener.js';
import { resolveSuite } from '../src/protocol/suite.js';
import type { CbcCipher } from '../src/protocol/ciphers.js';
import type { HashName } from '../src/protocol/crypto.js';

const SIZES = [16, 32, 48, 1024, 65552];

function pkcs7(data: Buffer): Buffer {
  const n = 16 - (data.length % 16);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

for (const cipher of ['aes-128-cbc', 'aes-256-cbc'] as CbcCipher[]) {
  test(`${cipher} on one long-lived context equals createCipheriv with each record's own IV`, (t) => {
    const raw = randomBytes(cipher === 'aes-128-cbc' ? 16 : 32);
    const enc = new CbcEncryptor(cipher, raw);
    const dec = new CbcDecryptor(cipher, raw);
    // Several records in a row: each must come out as if its context were fresh.
    for (let round = 0; round < 3; round++) {
      for (const size of SIZES) {
        const plain = randomBytes(size);
        const iv = randomBytes(16);
        const reference = createCipheriv(cipher, raw, iv).setAutoPadding(false).update(plain);
        const out = Buffer.alloc(size + 8, 0xee);
        enc.encryptInto(iv, Buffer.from(plain), out, 4);
        t.deepEqual(out.subarray(4, 4 + size), reference, `encrypt ${size} bytes`);
        t.deepEqual(out.subarray(0, 4), Buffer.alloc(4, 0xee), 'nothing written before offset');
        t.deepEqual(out.subarray(4 + size), Buffer.alloc(4, 0xee), 'nothing written after the ciphertext');
        t.deepEqual(dec.decrypt(iv, reference), plain, `decrypt ${size} bytes`);
      }
    }
    enc.destroy();
    dec.destroy();
  });
}

test('the long-lived decryptor reads records padded by createCipheriv, padding bytes included', (t) => {
  const raw = randomBytes(32);
  const dec = new CbcDecryptor('aes-256-cbc', raw);
  for (const size of [0, 1, 15, 16, 17, 2047]) {
    const plain = randomBytes(size);
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', raw, iv);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    t.deepEqual(dec.decrypt(iv, ct), pkcs7(plain));
  }
});

test('gcmOpen wipes the plaintext update() produced when the tag fails, and returns it when it verifies', (t) => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const aad = Buffer.from('aad');
  const plain = Buffer.alloc(64, 0x5a);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  const tag = c.getAuthTag();
  // Every buffer update() hands out, seen through the decipher's prototype.
  const proto = Object.getPrototypeOf(createDecipheriv('aes-256-gcm', key, nonce)) as {
    update: (...args: unknown[]) => Buffer;
  };
  const own = Object.getOwnPropertyDescriptor(proto, 'update');
  const original = proto.update;
  const outputs: Buffer[] = [];
  proto.update = function (this: unknown, ...args: unknown[]) {
    const out = original.apply(this, args);
    outputs.push(out);
    return out;
  };
  try {
    const k = createSecretKey(key);
    t.deepEqual(gcmOpen('aes-256-gcm', k, nonce, aad, ct, tag), plain);
    const bad = Buffer.from(tag);
    bad[0]! ^= 1;
    outputs.length = 0;
    t.is(gcmOpen('aes-256-gcm', k, nonce, aad, ct, bad), null);
    t.is(outputs.length, 1);
    t.true(outputs[0]!.length > 0, 'update() produced unauthenticated plaintext');
    t.true(
      outputs[0]!.every((x) => x === 0),
      'and it was wiped',
    );
  } finally {
    if (own) Object.defineProperty(proto, 'update', own);
    else delete (proto as { update?: unknown }).update;
  }
});

test('a destroyed context refuses further use', (t) => {
  const enc = new CbcEncryptor('aes-256-cbc', randomBytes(32));
  enc.destroy();
  enc.destroy(); // idempotent
  t.throws(() => enc.encryptInto(randomBytes(16), Buffer.alloc(16), Buffer.alloc(16), 0));
});

test('a released context is rebuilt from the kept key: records before and after it are exact', (t) => {
  const raw = randomBytes(32);
  const enc = new CbcEncryptor('aes-256-cbc', raw);
  const dec = new CbcDecryptor('aes-256-cbc', raw);
  for (let round = 0; round < 4; round++) {
    const plain = randomBytes(48);
    const iv = randomBytes(16);
    const reference = createCipheriv('aes-256-cbc', raw, iv).setAutoPadding(false).update(plain);
    const out = Buffer.alloc(48);
    enc.encryptInto(iv, Buffer.from(plain), out, 0);
    t.deepEqual(out, reference, `round ${round}`);
    t.deepEqual(dec.decrypt(iv, reference), plain, `round ${round}`);
    // Release between some records and not others, on either side.
    if (round % 2 === 0) enc.release();
    if (round < 2) dec.release();
  }
  enc.destroy();
  t.throws(() => enc.encryptInto(randomBytes(16), Buffer.alloc(16), Buffer.alloc(16), 0));
});

test('the decryptor follows the ciphertext it was given from one record to the next', (t) => {
  // The decryptor's chaining value must follow the ciphertext it was given, not the plaintext.
  const raw = randomBytes(32);
  const dec = new CbcDecryptor('aes-256-cbc', raw);
  const ivs = [randomBytes(16), randomBytes(16)];
  const plains = [randomBytes(64), randomBytes(64)];
  const cts = plains.map((p, i) =>
    createCipheriv('aes-256-cbc', raw, ivs[i]!).setAutoPadding(false).update(p),
  );
  t.deepEqual(dec.decrypt(ivs[0]!, cts[0]!), plains[0]);
  t.deepEqual(dec.decrypt(ivs[1]!, cts[1]!), plains[1]);
});

for (const hashName of ['sha256', 'sha384', 'sha512'] as HashName[]) {
  test(`HmacKey with ${hashName} equals createHmac and leaves the room zeroed`, (t) => {
    for (const keyLength of [0, 32, 48, 64]) {
      const key = randomBytes(keyLength);
      const mac = new HmacKey(hashName, key);
      for (const size of [0, 1, 13, 64, 129, 70_000]) {
        const message = randomBytes(size);
        const buf = Buffer.concat([Buffer.alloc(mac.blockSize, 0xaa), message, Buffer.alloc(3, 0xbb)]);
        const tag = Buffer.alloc(createHmac(hashName, key).digest().length);
        mac.macAfterRoom(buf, mac.blockSize + size, tag, 0);
        t.deepEqual(
          tag,
          createHmac(hashName, key).update(message).digest(),
          `${keyLength}-byte key, ${size} bytes`,
        );
        t.deepEqual(buf.subarray(0, mac.blockSize), Buffer.alloc(mac.blockSize), 'the inner pad is wiped');
        t.deepEqual(
          buf.subarray(mac.blockSize),
          Buffer.concat([message, Buffer.alloc(3, 0xbb)]),
          'message untouched',
        );
      }
      mac.destroy();
    }
  });
}

test('HmacKey.verifyOf (large records, hashed in place) checks createHmac over prefix and data', (t) => {
  for (const hashName of ['sha256', 'sha384', 'sha512'] as HashName[]) {
    const key = randomBytes(32);
    const mac = new HmacKey(hashName, key);
    const seq = randomBytes(8);
    for (const size of [0, 16_384, 70_000]) {
      const data = randomBytes(size);
      const expected = createHmac(hashName, key).update(seq).update(data).digest();
      const frame = Buffer.concat([Buffer.alloc(1, 0xee), expected]);
      const copy = Buffer.from(frame);
      t.true(mac.verifyOf(seq, data, frame, 1), `${hashName} ${size}`);
      t.deepEqual(frame, copy, 'nothing written');
      frame[frame.length - 1]! ^= 1;
      t.false(mac.verifyOf(seq, data, frame, 1));
    }
  }
});

test('HmacKey verifies a tag in place: the right tag passes, any flipped bit or other length fails', (t) => {
  for (const hashName of ['sha256', 'sha384', 'sha512'] as HashName[]) {
    const key = randomBytes(32);
    const mac = new HmacKey(hashName, key);
    for (const size of [0, 13, 200, 20_000]) {
      const message = randomBytes(size);
      const expected = createHmac(hashName, key).update(message).digest();
      // A frame-like buffer: 5 bytes of something, then the tag at the end.
      const frame = Buffer.concat([Buffer.alloc(5, 0x11), expected]);
      const room = () => Buffer.concat([Buffer.alloc(mac.blockSize), message]);
      t.true(mac.verifyAfterRoom(room(), mac.blockSize + size, frame, 5), `${hashName} ${size}`);
      t.true(mac.verifyOf(Buffer.alloc(0), message, frame, 5));
      for (let bit = 0; bit < expected.length * 8; bit += 7) {
        const forged = Buffer.from(frame);
        forged[5 + (bit >> 3)]! ^= 1 << (bit & 7);
        t.false(mac.verifyAfterRoom(room(), mac.blockSize + size, forged, 5), `bit ${bit}`);
        t.false(mac.verifyOf(Buffer.alloc(0), message, forged, 5), `bit ${bit}`);
      }
      t.false(mac.verifyAfterRoom(room(), mac.blockSize + size, Buffer.concat([frame, Buffer.alloc(1)]), 5));
      t.false(mac.verifyAfterRoom(room(), mac.blockSize + size, frame.subarray(0, frame.length - 1), 5));
    }
  }
});

test('digestMatches compares every byte: equal passes, a difference anywhere or another length fails', (t) => {
  const tag = randomBytes(32);
  const digest = tag.toString('binary');
  t.true(digestMatches(digest, tag, 0));
  t.true(digestMatches(digest, Buffer.concat([Buffer.alloc(3), tag]), 3));
  for (let i = 0; i < 32; i++) {
    const other = Buffer.from(tag);
    other[i]! ^= 0x80;
    t.false(digestMatches(digest, other, 0), `byte ${i}`);
  }
  t.false(digestMatches(digest, tag.subarray(1), 0));
  t.false(digestMatches(digest, Buffer.concat([tag, Buffer.alloc(1)]), 0));
  t.false(digestMatches('', tag, 0));
});

test('the random pool writes IVs in place: exactly the bytes asked for, fresh each time', (t) => {
  const random = createRandomPool();
  const seen = new Set<string>();
  for (let i = 0; i < 600; i++) {
    // 600 × 16 bytes crosses the 4 KiB pool's refill twice.
    const out = Buffer.alloc(40, 0xcc);
    random.into!(out, 7, 16);
    t.deepEqual(out.subarray(0, 7), Buffer.alloc(7, 0xcc));
    t.deepEqual(out.subarray(23), Buffer.alloc(17, 0xcc));
    seen.add(out.toString('hex', 7, 23));
  }
  t.is(seen.size, 600, 'no IV handed out twice');
  const big = Buffer.alloc(5000);
  random.into!(big, 0, 5000);
  t.false(big.equals(Buffer.alloc(5000)), 'large requests are filled too');
  t.is(random(16).length, 16);
});

test('a large CBC record hashed in place opens, and fails on any flipped bit', (t) => {
  const suite = resolveSuite({ symmetric: 'AES-256-CBC' });
  const secret = randomBytes(32);
  const payload = randomBytes(40_000);
  const sealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
  const record = sealer.seal(RecordType.Data, payload);
  t.deepEqual(new RecordOpener(suite, Buffer.from(secret)).open(record).payload, payload);
  for (const at of [0, 3, 4, 20, 21, 30_000, record.length - 33, record.length - 1]) {
    const bad = Buffer.from(record);
    bad[at]! ^= 0x01;
    t.throws(
      () => new RecordOpener(suite, Buffer.from(secret)).open(bad),
      { code: ErrorCode.RECORD_AUTH },
      `bit at ${at}`,
    );
  }
});

test('HmacKey refuses a key longer than the hash block', (t) => {
  t.throws(() => new HmacKey('sha256', Buffer.alloc(65)), { instanceOf: RangeError });
});

test('hkdf equals node:crypto hkdfSync for every hash, salt and output length', (t) => {
  for (const hashName of ['sha256', 'sha384', 'sha512'] as HashName[]) {
    for (const saltLength of [0, 32, 64, 128, 200]) {
      const salt = randomBytes(saltLength);
      const ikm = randomBytes(96);
      const info = randomBytes(40);
      for (const length of [1, 12, 16, 32, 48, 64, 100, 300]) {
        t.deepEqual(
          hkdf(hashName, ikm, salt, info, length),
          Buffer.from(hkdfSync(hashName, ikm, salt, info, length)),
          `${hashName}, ${saltLength}-byte salt, ${length} bytes`,
        );
      }
    }
  }
  t.throws(() => hkdf('sha256', randomBytes(32), Buffer.alloc(0), Buffer.alloc(0), 255 * 32 + 1), {
    instanceOf: RangeError,
  });
});

test('HkdfPrk: PRKs held at once (the thread spare pads, then pads of their own) each expand as hkdfSync; none after destroy()', (t) => {
  const ikms = [randomBytes(32), randomBytes(48), randomBytes(64)];
  const info = Buffer.from('secsess v1 test');
  const prks = ikms.map((ikm) => new HkdfPrk('sha256', ikm));
  for (let round = 0; round < 2; round++) {
    prks.forEach((prk, i) => {
      t.deepEqual(prk.expand(info, 40), Buffer.from(hkdfSync('sha256', ikms[i]!, Buffer.alloc(0), info, 40)));
    });
  }
  prks[0]!.destroy();
  prks[0]!.destroy();
  const next = new HkdfPrk('sha256', ikms[0]!);
  t.throws(() => prks[0]!.expand(info, 32), { message: /destroyed/ });
  t.deepEqual(
    prks[1]!.expand(info, 32),
    Buffer.from(hkdfSync('sha256', ikms[1]!, Buffer.alloc(0), info, 32)),
  );
  t.deepEqual(next.expand(info, 32), Buffer.from(hkdfSync('sha256', ikms[0]!, Buffer.alloc(0), info, 32)));
  for (const prk of [...prks, next]) prk.destroy();
});

test('fresh X25519 keys: the public value matches the private key', (t) => {
  const a = x25519Key();
  const b = x25519Key();
  t.is(a.publicRaw.length, 32);
  t.deepEqual(x25519Shared(a.privateKey, b.publicRaw), x25519Shared(b.privateKey, a.publicRaw));
});

test('X25519 from given private bytes: RFC 7748 §6.1 (public values and shared secret)', (t) => {
  const hex = (s: string): Buffer => Buffer.from(s, 'hex');
  const alice = x25519Key(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const bob = x25519Key(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  t.is(alice.publicRaw.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  t.is(bob.publicRaw.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  t.is(x25519Shared(alice.privateKey, bob.publicRaw).toString('hex'), k);
  t.is(x25519Shared(bob.privateKey, alice.publicRaw).toString('hex'), k);
});

test('secrets are in buffers of their own, not slices of the shared pool: pre_secrets, a ticket psk', (t) => {
  const pool = createRandomPool();
  const plain = (n: number): Buffer => Buffer.alloc(n, 7);
  for (const s of [randomSecret(pool, 48), randomSecret(plain, 48), secretCopy(Buffer.alloc(48, 1))]) {
    t.is(s.length, 48);
    t.is(s.buffer.byteLength, 48);
  }
  t.deepEqual(randomSecret(plain, 48), plain(48));
  const state = decodeTicketState(
    encodeTicketState({
      suiteIds: [1, 1, 1],
      issued: 1000,
      lifetime: 100,
      authTime: 1000,
      keyId: Buffer.alloc(32, 2),
      psk: Buffer.alloc(32, 3),
      clientSpki: Buffer.alloc(0),
      ticketId: Buffer.alloc(16, 4),
    }),
  )!;
  t.deepEqual(state.psk, Buffer.alloc(32, 3));
  t.is(state.psk.buffer.byteLength, 32);
});

// Node 20 deadlocked when a freshly generated key was exported while a garbage collection
// finalized its generation job (both take the key's mutex). The old code hung in every run of
// this child; a hang fails the test by the timeout below.
test('20 000 fresh X25519 keys under frequent garbage collection never hang', async (t) => {
  const child = spawn(
    process.execPath,
    [
      '--import=tsx',
      '--conditions=source',
      '--max-semi-space-size=1',
      fileURLToPath(new URL('./helpers/x25519-stress.ts', import.meta.url)),
      '20000',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  t.is(code, 0, 'the child finished instead of hanging');
  t.is(out.trim(), 'done');
});
