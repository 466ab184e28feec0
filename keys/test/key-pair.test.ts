import {
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  publicEncrypt,
  privateDecrypt,
} from 'node:crypto';
import test from 'ava';
import { DEFAULT_RSA_BITS, KeyPair, PrivateKey } from '@secsess/keys';

test('generateRSA makes a 3072-bit key by default', async (t) => {
  const pair = await KeyPair.generateRSA();
  t.is(DEFAULT_RSA_BITS, 3072);
  t.is(pair.privateKey.bits, 3072);
  t.is(pair.publicKey.bits, 3072);
  t.is(pair.privateKey.keyObject.asymmetricKeyDetails?.publicExponent, 65537n);
});

test('generateRSA honours bits: 2048', async (t) => {
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  t.is(pair.publicKey.bits, 2048);
  t.is(pair.publicKey, pair.privateKey.publicKey);
});

test('the generated halves belong together (sign/verify, encrypt/decrypt)', async (t) => {
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const message = Buffer.from('secsess');
  const signature = createSign('sha256').update(message).sign(pair.privateKey.keyObject);
  t.true(createVerify('sha256').update(message).verify(pair.publicKey.keyObject, signature));
  const sealed = publicEncrypt(pair.publicKey.keyObject, message);
  t.deepEqual(privateDecrypt(pair.privateKey.keyObject, sealed), message);
});

test('two generated keys differ', async (t) => {
  const [a, b] = await Promise.all([
    KeyPair.generateRSA({ bits: 2048 }),
    KeyPair.generateRSA({ bits: 2048 }),
  ]);
  t.false(a.publicKey.equals(b.publicKey));
  t.not(a.publicKey.fingerprint(), b.publicKey.fingerprint());
});

test('the event loop keeps running while a key is generated', async (t) => {
  let turns = 0;
  let running = true;
  const spin = (): void => {
    if (!running) return;
    turns++;
    setImmediate(spin);
  };
  const generating = KeyPair.generateRSA({ bits: 2048 });
  setImmediate(spin);
  await generating;
  running = false;
  // A synchronous generator would finish before any setImmediate callback could run.
  t.true(turns > 0);
});

test('a KeyPair can wrap an existing PrivateKey', (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pair = new KeyPair(PrivateKey.fromKeyObject(privateKey));
  t.true(pair.publicKey.keyObject.equals(createPublicKey(privateKey)));
  t.throws(() => new KeyPair({} as never), { instanceOf: TypeError });
});
