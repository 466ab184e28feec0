/**
 * The two ChaCha20-Poly1305 backends — node:crypto (protocol/aead.ts, the reference) and
 * libsodium through sodium-native (protocol/aead-native.ts) — seal identical bytes, open
 * each other's records in place and into another buffer, and refuse every tampered bit of
 * ciphertext, tag, aad and nonce without writing plaintext out; the ChaCha20-Poly1305
 * records of PROTOCOL.md's vectors reproduce under both. The process's choice
 * (`cryptoBackends()`, `SECSESS_CRYPTO=node|sodium`, a @secsess/native or sodium-native that
 * is missing or broken, the NODE_DEBUG line) is tested in child processes
 * (fixtures/aead-peer.ts). The third backend, @secsess/native: aead-openssl.test.ts. A whole
 * session across backends: aead-session.test.ts.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  NATIVE_AEAD_MAX,
  NodeAeadKey,
  aeadBackend,
  createAeadKey,
  cryptoBackends,
} from '../src/protocol/aead.js';
import type { AeadKey } from '../src/protocol/aead.js';
import { SodiumChachaKey, loadSodium } from '../src/protocol/aead-native.js';
import type { Sodium } from '../src/protocol/aead-native.js';
import { checkOpens, forEachFlip, hex, nonceOf, prng, seal, TAG, vectorFixture } from './helpers/aead.js';
import { loaderArgs } from './helpers/server-process.js';

const PEER = fileURLToPath(new URL('fixtures/aead-peer.ts', import.meta.url));
const NO_SODIUM = fileURLToPath(new URL('fixtures/no-sodium.mjs', import.meta.url));
const NO_NATIVE = fileURLToPath(new URL('fixtures/no-native.mjs', import.meta.url));

const loaded = loadSodium();
const sodium: Sodium | null = 'sodium' in loaded ? loaded.sodium : null;
/** Whoever runs the tests may force node:crypto for the whole run. */
const forced = process.env['SECSESS_CRYPTO'] === 'node';
// This process's own choice (made at its first key, below) is libsodium's, as on a machine
// where @secsess/native could not be built: the tests here are about it beside node:crypto.
if (!forced) process.env['SECSESS_CRYPTO'] = 'sodium';

/** Both backends' keys for one raw key. */
function keysOf(raw: Buffer): { node: AeadKey; native: AeadKey } {
  if (!sodium) throw new Error(`sodium-native did not load: ${(loaded as { reason: string }).reason}`);
  return { node: new NodeAeadKey('chacha20-poly1305', raw), native: new SodiumChachaKey(sodium, raw) };
}

test('the key the record layers get seals and opens as node:crypto on both sides of NATIVE_AEAD_MAX (libsodium below, OpenSSL from there on)', (t) => {
  const raw = randomBytes(32);
  const reference = new NodeAeadKey('chacha20-poly1305', raw);
  const key = createAeadKey('chacha20-poly1305', raw);
  t.is(key.backend, forced ? 'node:crypto' : 'sodium-native');
  for (const size of [0, 16, NATIVE_AEAD_MAX - 1, NATIVE_AEAD_MAX, NATIVE_AEAD_MAX + 1, 65536 + 13]) {
    const nonce = randomBytes(12);
    const aad = randomBytes(12);
    const plain = randomBytes(size);
    const sealed = seal(key, nonce, aad, plain, 3);
    t.deepEqual(sealed, seal(reference, nonce, aad, plain, 3), `size ${size}`);
    // open(): the plaintext in a buffer of its own (not a view of the record, not the pool).
    for (const k of [reference, key]) {
      const opened = k.open(nonce, aad, sealed, 3, 3 + size);
      t.deepEqual(opened, plain, `open(), ${k.backend}, size ${size}`);
      t.true(opened !== null && opened.buffer !== sealed.buffer && opened.buffer.byteLength === size);
    }
    const out = Buffer.alloc(size);
    t.true(reference.openInto(nonce, aad, sealed, 3, 3 + size, out, 0));
    t.true(key.openInto(nonce, aad, sealed, 3, 3 + size, sealed, 3), `size ${size}`);
    t.deepEqual(sealed.subarray(3, 3 + size), plain);
    t.deepEqual(out, plain);
    const forged = seal(reference, nonce, aad, plain, 0);
    forged[size]! ^= 1;
    t.false(key.openInto(nonce, aad, forged, 0, size, Buffer.alloc(size), 0), `forged, size ${size}`);
    t.is(key.open(nonce, aad, forged, 0, size), null, `open() forged, size ${size}`);
    t.is(reference.open(nonce, aad, forged, 0, size), null);
  }
  key.destroy();
});

test('open() on node:crypto gives the plaintext in an ArrayBuffer of exactly its size, for both AEAD ciphers (never the pool, no spare bytes)', (t) => {
  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    const key = new NodeAeadKey(cipher, randomBytes(32));
    for (const size of [0, 1, 15, 16, 17, 100, 4095, 4096, 8191, 8192, 65536]) {
      const nonce = randomBytes(12);
      const plain = randomBytes(size);
      const sealed = seal(key, nonce, Buffer.alloc(0), plain, 3);
      const a = key.open(nonce, Buffer.alloc(0), sealed, 3, 3 + size);
      const b = key.open(nonce, Buffer.alloc(0), sealed, 3, 3 + size);
      t.deepEqual(a, plain, `${cipher}, size ${size}`);
      t.true(a !== null && a.byteOffset === 0 && a.buffer.byteLength === size, `${cipher}, size ${size}`);
      t.true(a !== null && b !== null && a.buffer !== b.buffer);
    }
    key.destroy();
  }
});

test('with SECSESS_CRYPTO=sodium: ChaCha20-Poly1305 on sodium-native (installed here), AES-256-GCM on node:crypto', (t) => {
  t.truthy(
    sodium,
    `sodium-native is an optional dependency and installed in the repository: ${JSON.stringify(loaded)}`,
  );
  const chacha = forced ? 'node:crypto' : 'sodium-native';
  t.deepEqual(cryptoBackends(), { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': chacha });
  t.true(Object.isFrozen(cryptoBackends()));
  t.is(aeadBackend('chacha20-poly1305'), chacha);
  t.is(aeadBackend('aes-256-gcm'), 'node:crypto');
  const keys = [
    createAeadKey('chacha20-poly1305', randomBytes(32)),
    createAeadKey('aes-256-gcm', randomBytes(32)),
  ];
  t.deepEqual(
    keys.map((k) => k.backend),
    [chacha, 'node:crypto'],
  );
  for (const k of keys) k.destroy();
});

test('both backends seal identical bytes (sizes 0..70000, random nonce and aad) and open each other’s records, in place and into another buffer', (t) => {
  const next = prng(0x5ec5e55);
  const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1023, 1024, 16_383, 16_384, 65_535, 65_536, 70_000];
  for (let i = 0; i < 60; i++) sizes.push(next(70_001));
  const problems: string[] = [];
  for (const size of sizes) {
    const { node, native } = keysOf(randomBytes(32));
    const nonce = randomBytes(12);
    const aad = randomBytes(next(41));
    const plain = randomBytes(size);
    const at = next(24);
    const byNode = seal(node, nonce, aad, plain, at);
    const byNative = seal(native, nonce, aad, plain, at);
    if (!byNode.equals(byNative)) problems.push(`${size}: the sealed bytes differ`);
    if (byNative.readUInt8(byNative.length - 1) !== 0x5a) problems.push(`${size}: wrote past the tag`);
    const outAt = next(9);
    for (const [name, opener, record] of [
      ['sodium-native opens node:crypto', native, byNode],
      ['node:crypto opens sodium-native', node, byNative],
    ] as const) {
      checkOpens(problems, `${size}: ${name}`, opener, record, { nonce, aad, plain, at, outAt });
    }
    node.destroy();
    native.destroy();
  }
  t.deepEqual(problems, []);
  t.is(sizes.length, 77);
});

test('every flipped bit of ciphertext, tag, aad or nonce is refused by both backends, and no plaintext is written out', (t) => {
  const problems: string[] = [];
  for (const size of [0, 1, 33, 200]) {
    const { node, native } = keysOf(randomBytes(32));
    const nonce = randomBytes(12);
    const aad = randomBytes(13);
    const plain = Buffer.alloc(size, 0x61);
    const at = 3;
    const record = seal(node, nonce, aad, plain, at);
    /** Tries `rec` with the (possibly tampered) nonce and aad; checks nothing was let out. */
    const refuse = (what: string, rec: Buffer, n: Buffer, a: Buffer): void => {
      for (const [name, key] of [
        ['node:crypto', node],
        ['sodium-native', native],
      ] as const) {
        const out = Buffer.alloc(size, 0xa5);
        if (key.openInto(n, a, Buffer.from(rec), at, at + size, out, 0))
          problems.push(`${name} accepted ${what}`);
        // node:crypto leaves out untouched, libsodium zeroes it: either way no plaintext.
        const expected = name === 'node:crypto' ? 0xa5 : 0x00;
        if (out.some((b) => b !== expected)) problems.push(`${name} wrote into out for ${what}`);
        const inPlace = Buffer.from(rec);
        if (key.openInto(n, a, inPlace, at, at + size, inPlace, at))
          problems.push(`${name} accepted ${what} in place`);
        const left = inPlace.subarray(at, at + size);
        const untouched = left.equals(rec.subarray(at, at + size));
        if (name === 'node:crypto' ? !untouched : left.some((b) => b !== 0))
          problems.push(`${name} left ${untouched ? 'ciphertext' : 'something else'} in place for ${what}`);
      }
    };
    forEachFlip({ record, at, size, nonce, aad }, refuse);
    refuse(`${size} bytes: aad cut short`, record, nonce, aad.subarray(1));
    refuse(`${size} bytes: aad empty`, record, nonce, Buffer.alloc(0));
    const other = keysOf(randomBytes(32));
    const otherRecord = seal(other.node, nonce, aad, plain, at);
    refuse(`${size} bytes: another key's record`, otherRecord, nonce, aad);
    for (const k of [node, native, other.node, other.native]) k.destroy();
  }
  t.deepEqual(problems.slice(0, 20), []);
});

test('a key copies its raw bytes; destroy() wipes the native copy, and a destroyed key seals nothing and opens nothing', (t) => {
  if (!sodium) return t.fail('sodium-native did not load');
  const wiped: Uint8Array[] = [];
  const spy = Object.create(sodium, {
    sodium_memzero: { value: (b: Uint8Array) => (wiped.push(b), sodium.sodium_memzero(b)) },
  }) as Sodium;
  const raw = randomBytes(32);
  const reference = new NodeAeadKey('chacha20-poly1305', raw);
  const keys: AeadKey[] = [new NodeAeadKey('chacha20-poly1305', raw), new SodiumChachaKey(spy, raw)];
  const original = Buffer.from(raw);
  raw.fill(0);
  const nonce = randomBytes(12);
  const expected = seal(reference, nonce, Buffer.alloc(0), Buffer.from('copied'), 0);
  for (const key of keys) {
    t.true(seal(key, nonce, Buffer.alloc(0), Buffer.from('copied'), 0).equals(expected), key.backend);
    key.destroy();
    key.destroy();
    t.throws(() => seal(key, nonce, Buffer.alloc(0), Buffer.from('x'), 0), undefined, key.backend);
    const copy = Buffer.from(expected);
    t.false(key.openInto(nonce, Buffer.alloc(0), copy, 0, 6, copy, 0), key.backend);
  }
  t.is(wiped.length, 1, 'wiped once');
  t.true(wiped[0]!.length === 32 && wiped[0]!.every((b) => b === 0));
  t.false(original.equals(Buffer.alloc(32)));
  t.throws(() => new SodiumChachaKey(sodium, randomBytes(16)), { instanceOf: RangeError });
  const short = Buffer.alloc(10);
  t.throws(() => keys[1]!.sealInPlace(nonce, Buffer.alloc(0), short, 0, 0), { instanceOf: Error });
  reference.destroy();
});

// ---- PROTOCOL.md's ChaCha20-Poly1305 vectors, under both backends ----

/** Opens `record` (ct at `from`, tag last) with both backends and reseals it: identical bytes. */
function reproduce(key: Buffer, nonce: Buffer, aad: Buffer, record: Buffer, from: number): string | null {
  const { node, native } = keysOf(key);
  const to = record.length - TAG;
  const plains = [node, native].map((k) => {
    const out = Buffer.alloc(to - from);
    return k.openInto(nonce, aad, record, from, to, out, 0) ? out : null;
  });
  if (!plains[0] || !plains[1]) return plains[0] || plains[1] ? 'one backend refused it' : null;
  if (!plains[0].equals(plains[1])) return 'the plaintexts differ';
  for (const k of [node, native]) {
    const resealed = Buffer.from(record);
    plains[0].copy(resealed, from);
    k.sealInPlace(nonce, aad, resealed, from, to);
    if (!resealed.equals(record)) return `${k.backend} reseals other bytes`;
  }
  return 'ok';
}

test('the ChaCha20-Poly1305 stream records of PROTOCOL.md open and reseal identically under both backends', (t) => {
  const blocks = Object.entries(vectorFixture('vectors.json')).filter(
    ([, b]) => b['suite_ids']?.split(' ')[1] === '04',
  );
  t.is(blocks.length, 3, 'one block per hash');
  for (const [title, b] of blocks) {
    const dirs = (['c2s', 's2c'] as const).map((d) => [hex(b[`${d}_cipher_key_0`]!), hex(b[`${d}_iv_0`]!)]);
    const records = Object.keys(b).filter((name) => name.endsWith('_record'));
    t.true(records.length >= 4, title);
    for (const name of records) {
      const record = hex(b[name]!);
      // Which direction and sequence number: the one (of the first few) whose tag verifies.
      const found: string[] = [];
      for (const [key, iv] of dirs)
        for (let seq = 0n; seq < 8n; seq++) {
          const aad = Buffer.concat([Buffer.alloc(8), record.subarray(0, 4)]);
          aad.writeBigUInt64BE(seq);
          const verdict = reproduce(key!, nonceOf(iv!, seq), aad, record, 4);
          if (verdict !== null) found.push(verdict);
        }
      t.deepEqual(found, ['ok'], `${title}: ${name}`);
    }
  }
});

test('the ChaCha20-Poly1305 datagram records of PROTOCOL.md open and reseal identically under both backends', (t) => {
  const blocks = Object.entries(vectorFixture('dgram-record-vectors.json')).filter(
    ([, b]) => b['suite']?.split(' ')[1] === '04',
  );
  t.is(blocks.length, 3, 'one block per hash');
  for (const [title, b] of blocks) {
    const records = Object.keys(b).filter((name) => /^record_e\d+_s\d+$/.test(name));
    t.true(records.length >= 4, title);
    for (const name of records) {
      const epoch = /^record_e(\d+)_/.exec(name)![1]!;
      const record = hex(b[name]!);
      // header = 0x47 ‖ conn_id (8) ‖ u32 epoch ‖ u48 seq: the aad; seq in the nonce.
      const seq = BigInt(record.readUIntBE(13, 6));
      const nonce = nonceOf(hex(b[`iv_${epoch}`]!), seq);
      const verdict = reproduce(hex(b[`cipher_key_${epoch}`]!), nonce, record.subarray(0, 19), record, 19);
      t.is(verdict, 'ok', `${title}: ${name}`);
    }
  }
});

// ---- the process's choice, in child processes ----

/** Runs fixtures/aead-peer.ts report with `env` (and `preload`); its report and stderr. */
function report(
  env: NodeJS.ProcessEnv,
  preload: string[] = [],
): Promise<{ json: Record<string, unknown>; stderr: string }> {
  const base = { ...process.env };
  delete base['SECSESS_CRYPTO'];
  delete base['NODE_DEBUG'];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...preload.flatMap((p) => ['--import', p]), ...loaderArgs(), PEER, 'report'],
      { env: { ...base, NODE_DEBUG: 'secsess', ...env }, encoding: 'utf8' },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ json: JSON.parse(stdout), stderr }),
    );
  });
}

/** The NODE_DEBUG lines about the backends. */
const backendLines = (stderr: string): string[] =>
  stderr.split('\n').filter((line) => line.includes('crypto: AEAD backends'));

const NATIVE = '@secsess/native';

test('by default both ciphers run on @secsess/native (built here); one NODE_DEBUG line at first use says so', async (t) => {
  const { json, stderr } = await report({});
  t.deepEqual(json, {
    backends: { 'aes-256-gcm': NATIVE, 'chacha20-poly1305': NATIVE },
    keys: [NATIVE, NATIVE, NATIVE, NATIVE],
  });
  const lines = backendLines(stderr).map((l) => l.replace(/^SECSESS \d+: /, ''));
  t.is(lines.length, 1);
  t.regex(
    lines[0]!,
    /^crypto: AEAD backends: aes-256-gcm @secsess\/native, chacha20-poly1305 @secsess\/native \(@secsess\/native loaded \(OpenSSL [^)]+\)\)$/,
  );
  t.notRegex(stderr, /sodium/, 'sodium-native is not even loaded');
});

test('SECSESS_CRYPTO=sodium: ChaCha20-Poly1305 on sodium-native, AES-256-GCM on node:crypto, and the debug line says why', async (t) => {
  const { json, stderr } = await report({ SECSESS_CRYPTO: 'sodium' });
  t.deepEqual(json, {
    backends: { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'sodium-native' },
    keys: ['node:crypto', 'sodium-native', 'node:crypto', 'sodium-native'],
  });
  t.deepEqual(
    backendLines(stderr).map((l) => l.replace(/^SECSESS \d+: /, '')),
    [
      'crypto: AEAD backends: aes-256-gcm node:crypto, chacha20-poly1305 sodium-native (SECSESS_CRYPTO=sodium; sodium-native loaded)',
    ],
  );
});

for (const [failure, reason] of [
  ['missing', /\(@secsess\/native is not installed \(or was not built\); sodium-native loaded\)$/],
  ['broken', /\(@secsess\/native failed its aes-256-gcm known-answer test; sodium-native loaded\)$/],
] as const) {
  test(`a @secsess/native that is ${failure} falls back to sodium-native and node:crypto silently, the debug line says why`, async (t) => {
    const { json, stderr } = await report({ NO_NATIVE: failure }, [NO_NATIVE]);
    t.deepEqual(json, {
      backends: { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'sodium-native' },
      keys: ['node:crypto', 'sodium-native', 'node:crypto', 'sodium-native'],
    });
    const lines = backendLines(stderr);
    t.is(lines.length, 1);
    t.regex(lines[0]!, reason);
    t.notRegex(stderr, /Error|warning/i, 'nothing else printed');
  });
}

test('SECSESS_CRYPTO=node puts ChaCha20-Poly1305 on node:crypto, and the debug line says why', async (t) => {
  const { json, stderr } = await report({ SECSESS_CRYPTO: 'node' });
  t.deepEqual(json, {
    backends: { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'node:crypto' },
    keys: ['node:crypto', 'node:crypto', 'node:crypto', 'node:crypto'],
  });
  const lines = backendLines(stderr);
  t.is(lines.length, 1);
  t.regex(lines[0]!, /chacha20-poly1305 node:crypto \(SECSESS_CRYPTO=node\)$/);
});

test('an unknown SECSESS_CRYPTO value fails safe to node:crypto (and says so); case and spaces do not matter', async (t) => {
  const { json, stderr } = await report({ SECSESS_CRYPTO: 'fast' });
  t.like(json, { backends: { 'chacha20-poly1305': 'node:crypto' } });
  t.regex(backendLines(stderr)[0]!, /SECSESS_CRYPTO=fast not understood \(node, sodium, auto\): node:crypto/);
  const upper = await report({ SECSESS_CRYPTO: ' NODE ' });
  t.like(upper.json, { backends: { 'chacha20-poly1305': 'node:crypto' } });
  const auto = await report({ SECSESS_CRYPTO: 'Auto' });
  t.like(auto.json, { backends: { 'aes-256-gcm': NATIVE, 'chacha20-poly1305': NATIVE } });
  const sodium = await report({ SECSESS_CRYPTO: ' Sodium' });
  t.like(sodium.json, { backends: { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'sodium-native' } });
});

for (const [failure, reason] of [
  ['missing', /\(@secsess\/native is not installed \(or was not built\); sodium-native is not installed\)$/],
  ['broken', /; sodium-native lacks the detached ChaCha20-Poly1305 \(IETF\) functions\)$/],
] as const) {
  test(`a sodium-native that is ${failure} (and no @secsess/native) falls back to node:crypto silently, the debug line says why`, async (t) => {
    const { json, stderr } = await report({ NO_SODIUM: failure, NO_NATIVE: 'missing' }, [
      NO_SODIUM,
      NO_NATIVE,
    ]);
    t.deepEqual(json, {
      backends: { 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'node:crypto' },
      keys: ['node:crypto', 'node:crypto', 'node:crypto', 'node:crypto'],
    });
    const lines = backendLines(stderr);
    t.is(lines.length, 1);
    t.regex(lines[0]!, reason);
    t.notRegex(stderr, /Error|warning/i, 'nothing else printed');
  });
}
