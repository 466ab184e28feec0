import { createSecretKey, generateKeyPair, generateKeyPairSync } from 'node:crypto';
import { inspect, promisify } from 'node:util';
import test from 'ava';
import { KeyErrorCode, PrivateKey, PublicKey } from '@secsess/keys';
import { expectKeyError } from './helpers/assert.js';

const { privateKey: rsaPrivate, publicKey: rsaPublic } = generateKeyPairSync('rsa', { modulusLength: 2048 });

test('fromKeyObject takes a public KeyObject, or the public half of a private one', (t) => {
  const a = PublicKey.fromKeyObject(rsaPublic);
  const b = PublicKey.fromKeyObject(rsaPrivate);
  t.is(a.bits, 2048);
  t.is(b.keyObject.type, 'public');
  t.true(a.equals(b));
});

test('fromKeyObject refuses secret keys and non-KeyObjects with TypeError', (t) => {
  t.throws(() => PublicKey.fromKeyObject(createSecretKey(Buffer.alloc(32))), { instanceOf: TypeError });
  t.throws(() => PublicKey.fromKeyObject('key' as never), { instanceOf: TypeError });
  t.throws(() => PrivateKey.fromKeyObject(rsaPublic), { instanceOf: TypeError });
});

test('fromKeyObject refuses EC, Ed25519 and RSA-PSS keys with ERR_KEY_NOT_RSA', async (t) => {
  await expectKeyError(
    t,
    () => PublicKey.fromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
    KeyErrorCode.NOT_RSA,
  );
  await expectKeyError(
    t,
    () => PrivateKey.fromKeyObject(generateKeyPairSync('ed25519').privateKey),
    KeyErrorCode.NOT_RSA,
  );
  await expectKeyError(
    t,
    () => PublicKey.fromKeyObject(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey),
    KeyErrorCode.NOT_RSA,
    { mentions: ['RSA-PSS'] },
  );
});

test('fromKeyObject refuses RSA keys under 2048 bits', async (t) => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await expectKeyError(t, () => PublicKey.fromKeyObject(small.publicKey), KeyErrorCode.TOO_SMALL);
  await expectKeyError(t, () => PrivateKey.fromKeyObject(small.privateKey), KeyErrorCode.TOO_SMALL);
});

test('keys larger than 4096 bits load', async (t) => {
  const big = await promisify(generateKeyPair)('rsa', { modulusLength: 4104 });
  t.is(PublicKey.fromKeyObject(big.publicKey).bits, 4104);
  const pem = big.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  t.is(PrivateKey.fromString(pem).bits, 4104);
});

test('fingerprintBytes is 32 bytes, cached, and matches fingerprint()', (t) => {
  const key = PublicKey.fromKeyObject(rsaPublic);
  const bytes = key.fingerprintBytes();
  t.is(bytes.length, 32);
  t.is(key.fingerprintBytes(), bytes, 'the same cached Buffer');
  t.is(key.fingerprint(), `SHA256:${bytes.toString('base64').replace(/=+$/, '')}`);
  t.false(key.fingerprint().includes('='));
  t.regex(key.fingerprint(), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test('toSpkiDer is cached and equals node:crypto SPKI DER', (t) => {
  const key = PublicKey.fromKeyObject(rsaPublic);
  const der = key.toSpkiDer();
  t.is(key.toSpkiDer(), der);
  t.deepEqual(der, rsaPublic.export({ type: 'spki', format: 'der' }));
  t.true(PublicKey.fromBuffer(der).equals(key));
});

test('toOpenSSH formats the ssh-rsa line, with or without comment', (t) => {
  const key = PublicKey.fromKeyObject(rsaPublic);
  const line = key.toOpenSSH();
  t.regex(line, /^ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/]+=*$/);
  t.is(key.toOpenSSH('user@host'), `${line} user@host`);
  t.true(PublicKey.fromString(line).equals(key));
  t.throws(() => key.toOpenSSH('a\nb'), { instanceOf: TypeError });
});

test('equals compares key material, not identity', (t) => {
  const a = PublicKey.fromKeyObject(rsaPublic);
  const b = PublicKey.fromString(rsaPublic.export({ type: 'spki', format: 'pem' }).toString());
  const other = PublicKey.fromKeyObject(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
  t.true(a.equals(b));
  t.false(a.equals(other));
});

test('reads a public JWK, ignoring extra members', (t) => {
  const jwk = { ...rsaPublic.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'x' };
  const key = PublicKey.fromString(JSON.stringify(jwk));
  t.true(key.keyObject.equals(rsaPublic));
});

test('logging a PrivateKey never prints key material', (t) => {
  const key = PrivateKey.fromKeyObject(rsaPrivate);
  const d = rsaPrivate.export({ format: 'jwk' }).d ?? '';
  t.true(d.length > 100);
  for (const text of [String(key), inspect(key), JSON.stringify({ key }), `${key.publicKey}`]) {
    t.false(text.includes(d.slice(0, 20)));
    t.true(text.includes(key.fingerprint()));
  }
});
