/**
 * The Wireshark dissector's pure-Lua cryptography (tools/wireshark/secsess-crypto.lua), run by
 * tshark's own Lua 5.2, agrees with node:crypto on random inputs around every block boundary:
 * SHA-256/384/512, HMAC, HKDF, AES-128/256 blocks both ways, CBC decryption and AES-256-GCM
 * (plaintext, and the tag verdict for a good and a flipped tag). ChaCha20-Poly1305 is
 * wireshark-chacha.test.ts's.
 */
import { createCipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { checkLuaCases, hex, LuaCases } from './helpers/lua-crypto.js';
import { realTest } from './helpers/real-test.js';

const HASHES = { 1: 'sha256', 2: 'sha384', 3: 'sha512' } as const;

function aesBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv(key.length === 16 ? 'aes-128-ecb' : 'aes-256-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** Cases (`op hex…`) and the line node:crypto expects for each. */
function cases(): LuaCases {
  const all = new LuaCases();
  const add = (line: string, result: string): void => all.add(line, result);
  for (const len of [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 300]) {
    const m = randomBytes(len);
    for (const name of ['sha256', 'sha384', 'sha512'])
      add(`${name} ${hex(m)}`, hex(createHash(name).update(m).digest()));
  }
  for (const [id, name] of Object.entries(HASHES)) {
    for (const keyLen of [0, 32, 64, 129]) {
      const key = randomBytes(keyLen);
      const m = randomBytes(77);
      add(`hmac ${id} ${hex(key)} ${hex(m)}`, hex(createHmac(name, key).update(m).digest()));
    }
    for (const len of [12, 16, 32, 48, 64, 100]) {
      const ikm = randomBytes(48);
      const info = Buffer.from('secsess v1 key');
      const salt = len === 100 ? randomBytes(20) : Buffer.alloc(0);
      const okm = Buffer.from(hkdfSync(name, ikm, salt, info, len));
      add(`hkdf ${id} ${hex(ikm)} ${hex(salt)} ${hex(info)} ${len}`, hex(okm));
    }
  }
  for (const keyLen of [16, 32]) {
    for (let i = 0; i < 4; i++) {
      const key = randomBytes(keyLen);
      const block = randomBytes(16);
      const enc = aesBlock(key, block);
      add(`aesenc ${hex(key)} ${hex(block)}`, hex(enc));
      add(`aesdec ${hex(key)} ${hex(enc)}`, hex(block));
    }
    const key = randomBytes(keyLen);
    const iv = randomBytes(16);
    const plain = randomBytes(80);
    const c = createCipheriv(keyLen === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv);
    c.setAutoPadding(false);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    add(`cbc ${hex(key)} ${hex(iv)} ${hex(ct)}`, hex(plain));
  }
  for (const len of [0, 1, 16, 29, 100]) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(12);
    const plain = randomBytes(len);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    const tag = c.getAuthTag();
    add(`gcm ${hex(key)} ${hex(nonce)} ${hex(aad)} ${hex(ct)} ${hex(tag)}`, `${hex(plain)} true`);
    const bad = Buffer.from(tag);
    bad[0]! ^= 1;
    add(`gcm ${hex(key)} ${hex(nonce)} ${hex(aad)} ${hex(ct)} ${hex(bad)}`, `${hex(plain)} false`);
  }
  return all;
}

realTest(['tshark'])('the dissector’s Lua crypto agrees with node:crypto', async (t) => {
  await checkLuaCases(t, cases());
});
