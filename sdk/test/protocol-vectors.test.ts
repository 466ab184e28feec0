import test from 'ava';
import { constants, createDecipheriv, createHmac, hkdfSync, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PROTOCOL_MD, buildVectors, readVectors, renderVectors } from './helpers/vectors.js';
import { fixturePrivateKey } from './helpers/protocol-pair.js';

const stored = readVectors();
/** A stored hex field as bytes. */
const hexOf = (name: string): Buffer => Buffer.from(stored![name]!, 'hex');

test('the stored vectors are exactly what the implementation produces today', (t) => {
  t.truthy(stored, 'sdk/test/fixtures/vectors.json is missing: run npm run vectors');
  t.deepEqual(buildVectors(stored!.oaep_ciphertext), stored);
});

test('PROTOCOL.md shows the stored vectors', (t) => {
  t.true(readFileSync(PROTOCOL_MD, 'utf8').includes(renderVectors(stored!)), 'run npm run vectors');
});

test('the OAEP ciphertext decrypts to the pre-secret with the documented parameters', (t) => {
  const secret = privateDecrypt(
    {
      key: fixturePrivateKey('server-2048').keyObject,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('secsess v1 key transport'),
    },
    hexOf('oaep_ciphertext'),
  );
  t.is(secret.toString('hex'), stored!.pre_secret!);
});

test('a record opens with nothing but the formulas of PROTOCOL.md and raw node:crypto', (t) => {
  // Independent of the implementation: derive the c2s keys from the documented schedule.
  const v = stored!;
  const hk = (ikm: Buffer, info: string, len: number) =>
    Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), Buffer.from(info), len));
  const master = Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.concat([hexOf('pre_secret'), hexOf('x25519_shared')]),
      Buffer.concat([hexOf('client_random'), hexOf('server_random')]),
      Buffer.concat([Buffer.from('secsess v1 master'), hexOf('transcript_hash')]),
      32,
    ),
  );
  t.is(master.toString('hex'), v.master!);
  const c2s = hk(master, 'secsess v1 c2s traffic', 32);
  const cipherKey = hk(c2s, 'secsess v1 key', 32);
  const macKey = hk(c2s, 'secsess v1 mac', 32);

  const record = hexOf('c2s_data_record');
  t.is(record[0], 0x17);
  t.is(record.readUIntBE(1, 3), record.length - 4);
  const seq = Buffer.alloc(8);
  seq.writeUInt32BE(1, 4); // ClientFinished was c2s record 0
  const tag = createHmac('sha256', macKey)
    .update(seq)
    .update(record.subarray(0, record.length - 32))
    .digest();
  t.deepEqual(tag, record.subarray(record.length - 32));
  const d = createDecipheriv('aes-256-cbc', cipherKey, record.subarray(4, 20));
  const plain = Buffer.concat([d.update(record.subarray(20, record.length - 32)), d.final()]);
  t.is(plain.readUInt32BE(4), 1); // seq low word
  t.is(plain[8], 0x01); // Data
  t.is(plain.readUInt32BE(9), plain.length - 13);
  t.is(plain.subarray(13).toString('hex'), v.c2s_data_plaintext!);

  // The server proof is HMAC(finished_key, th).
  const finishedKey = hk(master, 'secsess v1 server finished', 32);
  const proof = createHmac('sha256', finishedKey).update(hexOf('transcript_hash')).digest();
  const s2c = hk(master, 'secsess v1 s2c traffic', 32);
  const sf = hexOf('server_finished_record');
  const d2 = createDecipheriv('aes-256-cbc', hk(s2c, 'secsess v1 key', 32), sf.subarray(4, 20));
  const sfPlain = Buffer.concat([d2.update(sf.subarray(20, sf.length - 32)), d2.final()]);
  t.is(sfPlain[8], 0x10);
  t.deepEqual(sfPlain.subarray(13), proof);
});
