/**
 * The Wireshark dissector's pure-Lua ChaCha20-Poly1305 (tools/wireshark/secsess-chacha.lua),
 * run by tshark's own Lua 5.2: RFC 8439's vectors (§2.4.2 ChaCha20, §2.5.2 and Appendix A.3's
 * edge cases of Poly1305 — partial reduction, a final result of exactly p or 2^130 − 6, s
 * carrying past 2^128 — and §2.8.2 AEAD), ChaCha20 against node:crypto's `chacha20`,
 * Poly1305 against a BigInt reference, and the AEAD against node:crypto's
 * `chacha20-poly1305` on random inputs from empty to more than 64 KiB, with the tag's verdict
 * for good, flipped-tag and flipped-ciphertext records.
 */
import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { checkLuaCases, hex, LuaCases } from './helpers/lua-crypto.js';
import { realTest } from './helpers/real-test.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const zeros = (n: number): string => '00'.repeat(n);
const ones = (n: number): string => 'ff'.repeat(n);

const le = (b: Buffer): bigint => {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
};

/** Poly1305 (RFC 8439 §2.5) straight from its definition, in BigInt. */
function poly1305(key: Buffer, msg: Buffer): Buffer {
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const p = (1n << 130n) - 5n;
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  let tag = (acc + le(key.subarray(16, 32))) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++, tag >>= 8n) out[i] = Number(tag & 255n);
  return out;
}

function chacha20(key: Buffer, nonce: Buffer, counter: number, data: Buffer): Buffer {
  const iv = Buffer.concat([Buffer.alloc(4), nonce]);
  iv.writeUInt32LE(counter, 0);
  const c = createCipheriv('chacha20', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

function seal(key: Buffer, nonce: Buffer, aad: Buffer, plain: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plain.length });
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

const SUNSCREEN = Buffer.from(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

function cases(): LuaCases {
  const all = new LuaCases();
  // §2.4.2: ChaCha20 from counter 1.
  const key242 = h('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const nonce242 = h('000000000000004a00000000');
  all.add(
    `chacha20 ${hex(key242)} ${hex(nonce242)} 1 ${hex(SUNSCREEN)}`,
    hex(chacha20(key242, nonce242, 1, SUNSCREEN)),
  );
  for (const len of [0, 1, 63, 64, 65, 130, 1000]) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const counter = len === 64 ? 0 : randomInt(2 ** 31);
    const data = randomBytes(len);
    all.add(
      `chacha20 ${hex(key)} ${hex(nonce)} ${counter} ${hex(data)}`,
      hex(chacha20(key, nonce, counter, data)),
    );
  }

  // §2.5.2, then Appendix A.3's #5 to #11 (key r ‖ s, message, tag).
  const polyVectors: [string, string, string][] = [
    [
      '85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b',
      Buffer.from('Cryptographic Forum Research Group').toString('hex'),
      'a8061dc1305136c6c22b8baf0c0127a9',
    ],
    ['02' + zeros(31), ones(16), '03' + zeros(15)],
    ['02' + zeros(15) + ones(16), '02' + zeros(15), '03' + zeros(15)],
    ['01' + zeros(31), ones(16) + 'f0' + ones(15) + '11' + zeros(15), '05' + zeros(15)],
    ['01' + zeros(31), ones(16) + 'fb' + 'fe'.repeat(15) + '01'.repeat(16), zeros(16)],
    ['02' + zeros(31), 'fd' + ones(15), 'fa' + ones(15)],
    [
      '01' + zeros(7) + '04' + zeros(23),
      'e33594d7505e43b9' + zeros(8) + '3394d7505e4379cd01' + zeros(7) + zeros(16) + '01' + zeros(15),
      '14' + zeros(7) + '55' + zeros(7),
    ],
    [
      '01' + zeros(7) + '04' + zeros(23),
      'e33594d7505e43b9' + zeros(8) + '3394d7505e4379cd01' + zeros(7) + zeros(16),
      '13' + zeros(15),
    ],
  ];
  for (const [key, msg, tag] of polyVectors) {
    all.add(`poly1305 ${key} ${hex(h(msg))}`, tag);
    if (poly1305(h(key), h(msg)).toString('hex') !== tag)
      throw new Error(`the BigInt Poly1305 disagrees: ${tag}`);
  }
  // Random keys and lengths around the block size; the largest limbs: r all ones once
  // clamped, s all ones, a message of 0xff.
  for (const len of [0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1000]) {
    const key = randomBytes(32);
    const msg = randomBytes(len);
    all.add(`poly1305 ${hex(key)} ${hex(msg)}`, hex(poly1305(key, msg)));
  }
  const heavy = h(ones(32));
  const heavyMsg = h(ones(999));
  all.add(`poly1305 ${hex(heavy)} ${hex(heavyMsg)}`, hex(poly1305(heavy, heavyMsg)));

  // §2.8.2: the AEAD's ciphertext and tag, opened.
  const key282 = h('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce282 = h('070000004041424344454647');
  const aad282 = h('50515253c0c1c2c3c4c5c6c7');
  const rfc = seal(key282, nonce282, aad282, SUNSCREEN);
  if (rfc.tag.toString('hex') !== '1ae10b594f09e26a7e902ecbd0600691')
    throw new Error('node:crypto ≠ RFC 8439 §2.8.2');
  all.add(
    `chachapoly ${hex(key282)} ${hex(nonce282)} ${hex(aad282)} ${hex(rfc.ct)} ${hex(rfc.tag)}`,
    `${hex(SUNSCREEN)} true`,
  );
  // Random records: the aad of a stream record (12 bytes), a datagram's header (19), others.
  const sizes: [number, number][] = [
    [0, 0],
    [1, 12],
    [15, 19],
    [16, 12],
    [63, 19],
    [64, 13],
    [65, 0],
    [1000, 12],
    [70_000, 19],
  ];
  for (const [len, aadLen] of sizes) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(aadLen);
    const plain = randomBytes(len);
    const { ct, tag } = seal(key, nonce, aad, plain);
    const line = (c: Buffer, t: Buffer): string =>
      `chachapoly ${hex(key)} ${hex(nonce)} ${hex(aad)} ${hex(c)} ${hex(t)}`;
    all.add(line(ct, tag), `${hex(plain)} true`);
    if (len > 1000) continue;
    const badTag = Buffer.from(tag);
    badTag[randomInt(16)]! ^= 1 << randomInt(8);
    all.add(line(ct, badTag), `${hex(plain)} false`);
    if (len === 0) continue;
    const badCt = Buffer.from(ct);
    const at = randomInt(len);
    badCt[at]! ^= 0x80;
    const flipped = Buffer.from(plain);
    flipped[at]! ^= 0x80;
    all.add(line(badCt, tag), `${hex(flipped)} false`);
  }
  return all;
}

realTest(['tshark'])(
  'the dissector’s Lua ChaCha20-Poly1305 agrees with RFC 8439 and node:crypto',
  async (t) => {
    await checkLuaCases(t, cases());
  },
);
