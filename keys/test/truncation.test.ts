import { readFile } from 'node:fs/promises';
import test from 'ava';
import { KeyError, KeyErrorCode, PrivateKey, PublicKey } from '@secsess/keys';
import { makeFixtures, PASSPHRASE } from './helpers/fixtures.js';
import type { Fixtures } from './helpers/fixtures.js';

let f!: Fixtures;
test.before(async () => {
  f = await makeFixtures();
});
test.after.always(async () => {
  await f?.cleanup();
});

/** Parses `data` as the kind of key the fixture holds. */
function parse(kind: 'private' | 'public', data: Buffer): unknown {
  return kind === 'private'
    ? PrivateKey.fromBuffer(data, { passphrase: PASSPHRASE })
    : PublicKey.fromBuffer(data);
}

/** The first failure among all strict prefixes of `data` that is not ERR_KEY_FORMAT, if any. */
function firstWrongPrefix(kind: 'private' | 'public', data: Buffer, limit = data.length): string | undefined {
  for (let length = 0; length < limit; length++) {
    try {
      parse(kind, data.subarray(0, length));
      return `prefix of ${length} bytes was accepted`;
    } catch (error) {
      if (!(error instanceof KeyError) || error.code !== KeyErrorCode.FORMAT) {
        return `prefix of ${length} bytes: ${String(error)}`;
      }
    }
  }
  return undefined;
}

const cases: [string, 'private' | 'public', (f: Fixtures) => string][] = [
  ['PKCS#8 PEM', 'private', (x) => x.opensslPkcs8],
  ['SPKI PEM', 'public', (x) => x.opensslSpki],
  ['PKCS#1 public PEM', 'public', (x) => x.opensslPkcs1Public],
  ['PKCS#1 DER', 'private', (x) => x.pkcs1Der],
  ['PKCS#8 DER', 'private', (x) => x.pkcs8Der],
  ['SPKI DER', 'public', (x) => x.spkiDer],
  ['encrypted PKCS#8 PEM', 'private', (x) => x.encryptedPkcs8Pem],
  ['encrypted PKCS#8 DER', 'private', (x) => x.encryptedPkcs8Der],
  ['legacy encrypted PEM', 'private', (x) => x.legacyEncryptedPem],
  ['OpenSSH private key', 'private', (x) => x.sshOpenssh],
  ['encrypted OpenSSH private key', 'private', (x) => x.sshOpensshEncrypted],
];

for (const [name, kind, pick] of cases) {
  test(`every truncation of a ${name} is refused with ERR_KEY_FORMAT`, async (t) => {
    const data = await readFile(pick(f));
    t.notThrows(() => parse(kind, data), 'the whole file loads');
    // Only a trailing newline may be lost: the shortest complete file ends at the last non-space byte.
    let end = data.length;
    while (end > 0 && /\s/.test(String.fromCharCode(data[end - 1] ?? 0))) end--;
    t.is(firstWrongPrefix(kind, data, end), undefined);
  });
}

test('every truncation of an OpenSSH .pub line inside its key data is refused with ERR_KEY_FORMAT', async (t) => {
  const data = await readFile(`${f.sshOpenssh}.pub`);
  const endOfKey = data.indexOf(' ', 'ssh-rsa '.length);
  t.true(endOfKey > 0);
  t.notThrows(() => parse('public', data));
  // Past the base64 field only the comment is cut, which is still a valid line.
  t.is(firstWrongPrefix('public', data, endOfKey), undefined);
});

test('every truncation of a JWK is refused with ERR_KEY_FORMAT', async (t) => {
  const key = await PrivateKey.load(f.opensslPkcs8);
  for (const [kind, data] of [
    ['private', key.encode({ format: 'jwk' })],
    ['public', key.publicKey.encode({ format: 'jwk' })],
  ] as const) {
    t.notThrows(() => parse(kind, data));
    t.is(firstWrongPrefix(kind, data, data.lastIndexOf('}')), undefined, kind);
  }
});
