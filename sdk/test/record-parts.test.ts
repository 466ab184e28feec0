/**
 * A large AEAD record sealed in parts (RecordSealer.sealParts: the frame and inner header,
 * the payload's ciphertext and the tag, each in a buffer of its own, so the payload is never
 * copied into a record buffer) is byte for byte the record `seal()` makes, for both AEAD
 * suites and on both ChaCha20-Poly1305 backends; small records and CBC suites are not sealed
 * in parts; what a part-sealed stream of records carries opens in order.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Symmetric } from '../src/index.js';
import { aeadBackend, NATIVE_AEAD_MAX } from '../src/protocol/aead.js';
import type { AeadCipher } from '../src/protocol/aead.js';
import { RecordType } from '../src/protocol/constants.js';
import { secureRandom } from '../src/protocol/crypto.js';
import { RecordSealer } from '../src/protocol/record-layer.js';
import { RecordOpener } from '../src/protocol/record-opener.js';
import { resolveSuite } from '../src/protocol/suite.js';

// Sealing in parts is for keys that hand out new buffers anyway (node:crypto, and libsodium's
// keys for large records); @secsess/native seals everything in place (aead-openssl.test.ts):
// this process skips it, as a machine where it could not be built does.
if (process.env['SECSESS_CRYPTO'] !== 'node') process.env['SECSESS_CRYPTO'] = 'sodium';

const AEADS = [
  ['AES-256-GCM', Symmetric.AES256GCM],
  ['ChaCha20-Poly1305', Symmetric.CHACHA20POLY1305],
] as const;

for (const [name, symmetric] of AEADS) {
  test(`${name}: a large record sealed in parts is the record seal() makes, and opens`, (t) => {
    const suite = resolveSuite({ symmetric });
    const secret = randomBytes(32);
    const inParts = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const whole = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const opener = new RecordOpener(suite, Buffer.from(secret));
    for (const size of [NATIVE_AEAD_MAX, NATIVE_AEAD_MAX + 1, 40_000, 65_536]) {
      const payload = randomBytes(size);
      const parts = inParts.sealParts(RecordType.Data, payload);
      t.truthy(parts, `${size} bytes are sealed in parts`);
      t.is(parts!.length, 3);
      const record = Buffer.concat(parts!);
      t.deepEqual(record, whole.seal(RecordType.Data, payload), `${size} bytes: the same record`);
      t.deepEqual(opener.open(record).payload, payload);
    }
    t.is(inParts.seq, whole.seq, 'sequence numbers advance alike');
  });

  test(`${name}: below ${NATIVE_AEAD_MAX} bytes libsodium's ChaCha20-Poly1305 seals in place (no parts, nothing consumed); node:crypto seals in parts`, (t) => {
    const suite = resolveSuite({ symmetric });
    const secret = randomBytes(32);
    const sealer = new RecordSealer(suite, Buffer.from(secret), secureRandom);
    const payload = randomBytes(100);
    const parts = sealer.sealParts(RecordType.Data, payload);
    if (aeadBackend(suite.cipher as AeadCipher) === 'sodium-native') {
      t.is(parts, null);
      t.is(sealer.seq, 0);
    } else {
      t.deepEqual(
        Buffer.concat(parts!),
        new RecordSealer(suite, Buffer.from(secret), secureRandom).seal(RecordType.Data, payload),
      );
      t.is(sealer.seq, 1);
    }
  });
}

test('CBC suites are never sealed in parts', (t) => {
  const sealer = new RecordSealer(
    resolveSuite({ symmetric: Symmetric.AES256 }),
    randomBytes(32),
    secureRandom,
  );
  t.is(sealer.sealParts(RecordType.Data, randomBytes(65_536)), null);
  t.is(sealer.seq, 0);
});
