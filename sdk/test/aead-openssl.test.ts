/**
 * The OpenSSL native backend (@secsess/native, protocol/aead-openssl.ts): for AES-256-GCM and
 * ChaCha20-Poly1305 it seals the bytes node:crypto seals, opens node:crypto's records in place
 * and into another buffer without touching a byte outside its range, refuses every tampered
 * bit of ciphertext, tag, aad and nonce with its output wiped, refuses bad calls before it
 * touches anything, and reproduces PROTOCOL.md's AEAD records. The addon is built by
 * `npm ci` here (g++ and Node's headers); a machine that cannot build it falls back
 * (aead-backends.test.ts), but this repository's runs, CI's among them, must have it.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { NodeAeadKey } from '../src/protocol/aead.js';
import type { AeadCipher, AeadKey } from '../src/protocol/aead.js';
import { OpenSslAeadKey, loadOpenSsl } from '../src/protocol/aead-openssl.js';
import { checkOpens, forEachFlip, hex, nonceOf, prng, seal, TAG, vectorFixture } from './helpers/aead.js';
import type { OpenSslNative } from '../src/protocol/aead-openssl.js';

const CIPHERS = ['aes-256-gcm', 'chacha20-poly1305'] as const;
const loaded = loadOpenSsl();
const native: OpenSslNative | null = 'native' in loaded ? loaded.native : null;

function need(): OpenSslNative {
  if (!native) throw new Error(`@secsess/native did not load: ${(loaded as { reason: string }).reason}`);
  return native;
}

/** The reference and the native key for one raw key. */
function keysOf(cipher: AeadCipher, raw: Buffer): { node: AeadKey; fast: AeadKey } {
  return { node: new NodeAeadKey(cipher, raw), fast: new OpenSslAeadKey(need(), cipher, raw) };
}

test('@secsess/native is built and loads here, on the OpenSSL this Node.js links', (t) => {
  t.truthy(native, `npm ci builds it in this repository: ${JSON.stringify(loaded)}`);
  t.true(need().openssl.includes(process.versions.openssl.replace(/\+.*$/, '')), need().openssl);
  // What a user loads: the package by its name, resolved from @secsess/sdk.
  const required = createRequire(new URL('../src/protocol/aead-openssl.ts', import.meta.url))(
    '@secsess/native',
  );
  t.is(typeof (required as OpenSslNative).seal, 'function');
});

for (const cipher of CIPHERS) {
  test(`${cipher}: the same bytes as node:crypto (sizes 0..70000, random nonce, aad and offsets), each opening the other's in place and into another buffer`, (t) => {
    const next = prng(cipher.length * 7919);
    const sizes = [
      0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1023, 1024, 16_383, 16_384, 65_535, 65_536, 70_000,
    ];
    for (let i = 0; i < 40; i++) sizes.push(next(70_001));
    const problems: string[] = [];
    // One key across many records: the contexts are reused, only the nonce changes.
    const { node, fast } = keysOf(cipher, randomBytes(32));
    for (const size of sizes) {
      const nonce = randomBytes(12);
      const aad = randomBytes(next(41));
      const plain = randomBytes(size);
      const at = next(24);
      const byNode = seal(node, nonce, aad, plain, at);
      const byFast = seal(fast, nonce, aad, plain, at);
      if (!byNode.equals(byFast)) problems.push(`${size}: the sealed bytes differ`);
      const outAt = next(9);
      for (const [name, opener, record] of [
        ['native opens node:crypto', fast, byNode],
        ['node:crypto opens native', node, byFast],
      ] as const) {
        checkOpens(problems, `${size}: ${name}`, opener, record, { nonce, aad, plain, at, outAt });
      }
      // open(): a buffer of its own, exactly the plaintext's size.
      const own = fast.open(nonce, aad, byNode, at, at + size);
      if (
        own === null ||
        !own.equals(plain) ||
        own.buffer === byNode.buffer ||
        own.buffer.byteLength !== size
      )
        problems.push(`${size}: open() did not give the plaintext in a buffer of its own`);
    }
    t.is((fast as OpenSslAeadKey).sealParts(), null, 'sealing in place is cheapest: no parts');
    t.true(fast.inPlace);
    t.is(fast.backend, '@secsess/native');
    node.destroy();
    fast.destroy();
    t.deepEqual(problems, []);
  });

  test(`${cipher}: every flipped bit of ciphertext, tag, aad or nonce is refused, and the output range is wiped (in place: the ciphertext too)`, (t) => {
    const problems: string[] = [];
    for (const size of [0, 1, 33, 200]) {
      const { node, fast } = keysOf(cipher, randomBytes(32));
      const nonce = randomBytes(12);
      const aad = randomBytes(13);
      const plain = Buffer.alloc(size, 0x61);
      const at = 3;
      const record = seal(node, nonce, aad, plain, at);
      const refuse = (what: string, rec: Buffer, n: Buffer, a: Buffer): void => {
        const out = Buffer.alloc(size + 2, 0xa5);
        if (fast.openInto(n, a, Buffer.from(rec), at, at + size, out, 1)) problems.push(`accepted ${what}`);
        if (out.subarray(1, 1 + size).some((b) => b !== 0) || out[0] !== 0xa5 || out[size + 1] !== 0xa5)
          problems.push(`out not wiped exactly for ${what}`);
        const inPlace = Buffer.from(rec);
        if (fast.openInto(n, a, inPlace, at, at + size, inPlace, at))
          problems.push(`accepted ${what} in place`);
        if (inPlace.subarray(at, at + size).some((b) => b !== 0))
          problems.push(`left bytes in place for ${what}`);
        if (fast.open(n, a, Buffer.from(rec), at, at + size) !== null)
          problems.push(`open() accepted ${what}`);
      };
      forEachFlip({ record, at, size, nonce, aad }, refuse);
      refuse(`${size} bytes: aad empty`, record, nonce, Buffer.alloc(0));
      const other = new NodeAeadKey(cipher, randomBytes(32));
      refuse(`${size} bytes: another key's record`, seal(other, nonce, aad, plain, at), nonce, aad);
      // After all those failures the contexts still open a good record.
      if (!fast.openInto(nonce, aad, Buffer.from(record), at, at + size, Buffer.alloc(size), 0))
        problems.push(`${size} bytes: a good record refused after failures`);
      for (const k of [node, fast, other]) k.destroy();
    }
    t.deepEqual(problems.slice(0, 20), []);
  });
}

test('bad calls are refused before a byte is touched: short nonce, ranges outside the buffers, room for the tag, partial overlap, wrong types, a destroyed key', (t) => {
  const n = need();
  const key = n.createKey(1, randomBytes(32));
  const buf = Buffer.alloc(96, 0x33);
  const nonce = randomBytes(12);
  const none = Buffer.alloc(0);
  const unchanged = (): boolean => buf.every((b) => b === 0x33);
  t.throws(() => n.seal(key, nonce.subarray(0, 11), none, buf, 0, 10), { instanceOf: RangeError });
  t.throws(() => n.seal(key, nonce, none, buf, 0, 81), { instanceOf: RangeError }, 'no room for the tag');
  t.throws(() => n.seal(key, nonce, none, buf, 10, 5), { instanceOf: RangeError }, 'from > to');
  t.throws(() => n.seal(key, nonce, none, buf, 0, 2 ** 40), { instanceOf: TypeError }, 'beyond int');
  t.throws(() => n.seal(key, nonce, none, buf, -1, 5), { instanceOf: TypeError });
  t.throws(() => n.seal(key, nonce, none, buf, 0.5, 5), { instanceOf: TypeError });
  t.throws(() => n.seal(key, nonce, none, 'text' as unknown as Buffer, 0, 0), { instanceOf: TypeError });
  t.throws(() => n.seal({}, nonce, none, buf, 0, 10), { instanceOf: TypeError }, 'not a key');
  t.throws(() => n.seal(buf, nonce, none, buf, 0, 10), { instanceOf: TypeError }, 'bytes are not a key');
  t.throws(() => n.destroy({}), { instanceOf: TypeError }, 'destroy takes only a key');
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  t.throws(() => n.seal(key, nonce, none, shared, 0, 10), { instanceOf: TypeError }, 'a SharedArrayBuffer');
  t.throws(() => n.open(key, nonce, none, buf, 0, 10, shared, 0), { instanceOf: TypeError });
  t.throws(() => n.seal(key, nonce, none, buf, 0, 2 ** 31 - 1), { instanceOf: RangeError }, 'INT_MAX');
  t.throws(() => n.seal(key, nonce, none, buf, 2 ** 31, 2 ** 31), { instanceOf: TypeError }, 'past INT_MAX');
  // Only exactly in place or apart: the record is buf[16 .. 36], its tag buf[36 .. 52].
  for (const [outAt, what] of [
    [15, 'one byte before the record'],
    [17, 'one byte into the record'],
    [30, 'over the end of the record and the tag'],
    [36, 'onto the tag'],
    [51, 'onto the last byte of the tag'],
  ] as const) {
    t.throws(
      () => n.open(key, nonce, none, buf, 16, 36, buf, outAt),
      { instanceOf: RangeError, message: /overlaps/ },
      what,
    );
  }
  t.throws(() => n.open(key, nonce, none, buf, 0, 20, buf, 5), { instanceOf: RangeError }, 'partial overlap');
  t.throws(() => n.open(key, nonce, none, buf, 0, 20, Buffer.alloc(19), 0), { instanceOf: RangeError });
  t.throws(() => n.open(key, nonce, none, buf, 0, 20, Buffer.alloc(30), 11), { instanceOf: RangeError });
  t.throws(() => n.createKey(1, randomBytes(16)), { instanceOf: RangeError });
  t.throws(() => n.createKey(3 as 1, randomBytes(32)), { instanceOf: RangeError });
  t.true(unchanged(), 'no call above wrote anything');
  // Apart, touching but not overlapping: the output ends where the record starts, or starts
  // right after the tag. Neither throws (the tags fail: the bytes are no record).
  const big = Buffer.alloc(96, 0x33);
  t.false(n.open(key, nonce, none, big, 20, 40, big, 0));
  t.false(n.open(key, nonce, none, big, 20, 40, big, 56));
  t.true(big.subarray(0, 20).every((b) => b === 0) && big.subarray(56, 76).every((b) => b === 0), 'wiped');
  n.destroy(key);
  n.destroy(key);
  t.throws(() => n.seal(key, nonce, none, buf, 0, 10), { message: /destroyed/ });
  t.true(unchanged());
  // The class: a destroyed key seals nothing and opens nothing.
  const k = new OpenSslAeadKey(n, 'chacha20-poly1305', randomBytes(32));
  const sealed = seal(k, nonce, none, Buffer.from('abc'), 0);
  k.destroy();
  k.destroy();
  t.throws(() => k.sealInPlace(nonce, none, Buffer.alloc(32), 0, 3));
  t.false(k.openInto(nonce, none, sealed, 0, 3, Buffer.alloc(3), 0));
});

test('release() frees an idle key’s contexts: the next records seal and open as before, either way round', (t) => {
  for (const cipher of CIPHERS) {
    const { node, fast } = keysOf(cipher, randomBytes(32));
    const k = fast as OpenSslAeadKey;
    for (let i = 0; i < 3; i++) {
      const nonce = randomBytes(12);
      const plain = randomBytes(100 + i);
      k.release();
      const sealed = seal(k, nonce, none(), plain, 1);
      t.deepEqual(sealed, seal(node, nonce, none(), plain, 1), `${cipher}: sealed after release ${i}`);
      k.release();
      t.deepEqual(
        k.open(nonce, none(), sealed, 1, 1 + plain.length),
        plain,
        `${cipher}: opened after release ${i}`,
      );
    }
    k.destroy();
    k.release();
    node.destroy();
  }
});

test('a key copies its raw bytes: wiping them after createKey changes nothing sealed', (t) => {
  for (const cipher of CIPHERS) {
    const raw = randomBytes(32);
    const reference = new NodeAeadKey(cipher, raw);
    const key = new OpenSslAeadKey(need(), cipher, raw);
    raw.fill(0);
    const nonce = randomBytes(12);
    t.deepEqual(
      seal(key, nonce, none(), Buffer.from('copied'), 2),
      seal(reference, nonce, none(), Buffer.from('copied'), 2),
    );
    key.destroy();
    reference.destroy();
  }
});

function none(): Buffer {
  return Buffer.alloc(0);
}

// ---- PROTOCOL.md's AEAD records (suite ids 01 03 xx: AES-256-GCM, 01 04 xx: ChaCha20-Poly1305) ----

const CIPHER_OF: Record<string, AeadCipher> = { '03': 'aes-256-gcm', '04': 'chacha20-poly1305' };

/** Opens `record` (ct at `from`, tag last) natively, in place, and reseals it: the same bytes. */
function reproduce(
  cipher: AeadCipher,
  key: Buffer,
  nonce: Buffer,
  aad: Buffer,
  record: Buffer,
  from: number,
): boolean {
  const fast = new OpenSslAeadKey(need(), cipher, key);
  try {
    const to = record.length - TAG;
    const copy = Buffer.from(record);
    if (!fast.openInto(nonce, aad, copy, from, to, copy, from)) return false;
    fast.sealInPlace(nonce, aad, copy, from, to);
    return copy.equals(record);
  } finally {
    fast.destroy();
  }
}

test('the AEAD stream and datagram records of PROTOCOL.md open in place and reseal identically', (t) => {
  let count = 0;
  for (const [title, b] of Object.entries(vectorFixture('vectors.json'))) {
    const cipher = CIPHER_OF[b['suite_ids']?.split(' ')[1] ?? ''];
    if (!cipher) continue;
    const dirs = (['c2s', 's2c'] as const).map(
      (d) => [hex(b[`${d}_cipher_key_0`]!), hex(b[`${d}_iv_0`]!)] as const,
    );
    for (const name of Object.keys(b).filter((n) => n.endsWith('_record'))) {
      const record = hex(b[name]!);
      let found = 0;
      for (const [key, iv] of dirs)
        for (let seq = 0n; seq < 8n; seq++) {
          const aad = Buffer.concat([Buffer.alloc(8), record.subarray(0, 4)]);
          aad.writeBigUInt64BE(seq);
          if (reproduce(cipher, key, nonceOf(iv, seq), aad, record, 4)) found++;
        }
      t.is(found, 1, `${title}: ${name}`);
      count++;
    }
  }
  for (const [title, b] of Object.entries(vectorFixture('dgram-record-vectors.json'))) {
    const cipher = CIPHER_OF[b['suite']?.split(' ')[1] ?? ''];
    if (!cipher) continue;
    for (const name of Object.keys(b).filter((n) => /^record_e\d+_s\d+$/.test(n))) {
      const epoch = /^record_e(\d+)_/.exec(name)![1]!;
      const record = hex(b[name]!);
      const nonce = nonceOf(hex(b[`iv_${epoch}`]!), BigInt(record.readUIntBE(13, 6)));
      t.true(
        reproduce(cipher, hex(b[`cipher_key_${epoch}`]!), nonce, record.subarray(0, 19), record, 19),
        `${title}: ${name}`,
      );
      count++;
    }
  }
  t.true(count >= 24, `${count} records`);
});
