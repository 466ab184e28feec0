import { sign, verify } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { inspectKeyFile, KeyErrorCode, loadKey, PrivateKey, PublicKey } from '@secsess/keys';
import { expectKeyError } from './helpers/assert.js';
import { makeFixtures, PASSPHRASE, writeFixture } from './helpers/fixtures.js';
import type { Fixtures } from './helpers/fixtures.js';
import { sshFingerprint, sshFingerprintOfPemPublic, sshKeygen } from './helpers/tools.js';

let f!: Fixtures;
test.before(async () => {
  f = await makeFixtures();
});
test.after.always(async () => {
  await f?.cleanup();
});

test('loads an openssl genpkey PKCS#8 key and matches the ssh-keygen fingerprint', async (t) => {
  const key = await PrivateKey.load(f.opensslPkcs8);
  t.is(key.bits, 2048);
  t.is(key.keyObject.type, 'private');
  t.is(key.fingerprint(), await sshFingerprint(f.opensslPkcs8));
  t.is((await PublicKey.load(f.opensslSpki)).fingerprint(), await sshFingerprintOfPemPublic(f.opensslSpki));
});

test('loads ssh-keygen -m PEM (PKCS#1) keys and their .pub files', async (t) => {
  const key = await PrivateKey.load(f.sshPem);
  const pub = await PublicKey.load(`${f.sshPem}.pub`);
  const expected = await sshFingerprint(`${f.sshPem}.pub`);
  t.is(key.fingerprint(), expected);
  t.is(pub.fingerprint(), expected);
  t.true(pub.equals(key.publicKey));
});

test('loads ssh-keygen -m PKCS8 keys', async (t) => {
  const key = await PrivateKey.load(f.sshPkcs8);
  t.is(key.fingerprint(), await sshFingerprint(`${f.sshPkcs8}.pub`));
});

test('loads unencrypted OpenSSH private keys through node-rsa into a node:crypto KeyObject', async (t) => {
  const key = await PrivateKey.load(f.sshOpenssh);
  const expected = await sshFingerprint(`${f.sshOpenssh}.pub`);
  t.is(key.fingerprint(), expected);
  t.is(key.keyObject.asymmetricKeyType, 'rsa');
  t.is(key.keyObject.asymmetricKeyDetails?.modulusLength, 2048);
  // The converted key really is the private half: it matches the key ssh-keygen derives.
  t.true(key.publicKey.equals(await PublicKey.load(`${f.sshOpenssh}.pub`)));
});

test('reads OpenSSH .pub lines with comments containing spaces', async (t) => {
  const text = await readFile(`${f.sshOpenssh}.pub`, 'utf8');
  t.true(text.trim().endsWith('openssh comment with spaces'));
  const pub = PublicKey.fromString(text);
  t.is(pub.fingerprint(), await sshFingerprint(`${f.sshOpenssh}.pub`));
  t.is(pub.toOpenSSH('openssh comment with spaces'), text.trim());
});

/** The cipher and KDF names in the header of an OpenSSH private key file. */
async function opensshHeader(path: string): Promise<{ cipher: string; kdf: string }> {
  const text = await readFile(path, 'utf8');
  const container = Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const cipherLength = container.readUInt32BE(15);
  const cipher = container.toString('latin1', 19, 19 + cipherLength);
  const kdfLength = container.readUInt32BE(19 + cipherLength);
  const kdf = container.toString('latin1', 23 + cipherLength, 23 + cipherLength + kdfLength);
  return { cipher, kdf };
}

test('loads a passphrase-protected OpenSSH key as ssh-keygen -N writes it (bcrypt + aes256-ctr)', async (t) => {
  const path = f.sshOpensshEncrypted;
  t.deepEqual(await opensshHeader(path), { cipher: 'aes256-ctr', kdf: 'bcrypt' }, "ssh-keygen's default");
  const expected = await sshFingerprint(`${path}.pub`);
  const key = await PrivateKey.load(path, { passphrase: PASSPHRASE });
  t.is(key.fingerprint(), expected);
  t.true(key.publicKey.equals(await PublicKey.load(`${path}.pub`)));
  t.is(PrivateKey.loadSync(path, { passphrase: Buffer.from(PASSPHRASE) }).fingerprint(), expected);
  t.is((await loadKey(path, { passphrase: PASSPHRASE })).fingerprint(), expected);
  // The decrypted key is really the private half: it signs what the .pub verifies.
  const signature = sign('sha256', Buffer.from('hello'), key.keyObject);
  t.true(verify('sha256', Buffer.from('hello'), (await PublicKey.load(`${path}.pub`)).keyObject, signature));
  const wrong = await expectKeyError(
    t,
    PrivateKey.load(path, { passphrase: 'not it' }),
    KeyErrorCode.PASSPHRASE,
    { path },
  );
  t.false(wrong.message.includes('not it'));
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.ENCRYPTED, { path });
  await expectKeyError(t, inspectKeyFile(path, { passphrase: 'not it' }), KeyErrorCode.PASSPHRASE, { path });
});

test('loads OpenSSH keys re-encrypted with aes256-gcm and aes128-cbc (ssh-keygen -Z)', async (t) => {
  const expected = await sshFingerprint(`${f.sshOpensshEncrypted}.pub`);
  for (const cipher of ['aes256-gcm@openssh.com', 'aes128-cbc']) {
    const copy = join(f.dir, `reencrypted-${cipher}`);
    await copyFile(f.sshOpensshEncrypted, copy);
    await sshKeygen('-q', '-p', '-P', PASSPHRASE, '-N', PASSPHRASE, '-Z', cipher, '-f', copy);
    t.is((await opensshHeader(copy)).cipher, cipher);
    t.is((await PrivateKey.load(copy, { passphrase: PASSPHRASE })).fingerprint(), expected, cipher);
    await expectKeyError(t, PrivateKey.load(copy, { passphrase: 'nope' }), KeyErrorCode.PASSPHRASE, {
      path: copy,
    });
  }
});

test('an OpenSSH cipher secsess does not implement is ERR_KEY_OPENSSH_ENCRYPTED; its advice works', async (t) => {
  const copy = join(f.dir, 'chacha');
  await copyFile(f.sshOpensshEncrypted, copy);
  await sshKeygen(
    '-q',
    '-p',
    '-P',
    PASSPHRASE,
    '-N',
    PASSPHRASE,
    '-Z',
    'chacha20-poly1305@openssh.com',
    '-f',
    copy,
  );
  for (const passphrase of [PASSPHRASE, undefined]) {
    await expectKeyError(t, PrivateKey.load(copy, { passphrase }), KeyErrorCode.OPENSSH_ENCRYPTED, {
      path: copy,
      mentions: ['chacha20-poly1305@openssh.com', `ssh-keygen -p -Z aes256-ctr -a 16 -f ${copy}`],
    });
  }
  await sshKeygen('-q', '-p', '-P', PASSPHRASE, '-N', PASSPHRASE, '-Z', 'aes256-ctr', '-a', '16', '-f', copy);
  t.is(
    (await PrivateKey.load(copy, { passphrase: PASSPHRASE })).fingerprint(),
    await sshFingerprint(`${f.sshOpensshEncrypted}.pub`),
  );
});

test('an OpenSSH key asking for more than 1024 bcrypt rounds is refused before any are run', async (t) => {
  const text = await readFile(f.sshOpensshEncrypted, 'utf8');
  const container = Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  // magic(15) "aes256-ctr"(4+10) "bcrypt"(4+6) kdfoptions(4 + salt(4+16) + rounds(4))
  const roundsAt = 15 + 14 + 10 + 4 + 4 + 16;
  t.is(container.readUInt32BE(roundsAt), 16, "ssh-keygen's default rounds");
  container.writeUInt32BE(0xffffffff, roundsAt);
  const path = await writeFixture(
    f.dir,
    'many-rounds',
    `-----BEGIN OPENSSH PRIVATE KEY-----\n${container.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`,
  );
  await expectKeyError(t, PrivateKey.load(path, { passphrase: PASSPHRASE }), KeyErrorCode.OPENSSH_ENCRYPTED, {
    path,
    mentions: ['4294967295 bcrypt rounds', '1024'],
  });
});

test('the PKCS#8 conversion the OPENSSH_ENCRYPTED message suggests makes the key loadable', async (t) => {
  const copy = `${f.sshOpensshEncrypted}.converted`;
  await copyFile(f.sshOpensshEncrypted, copy);
  await sshKeygen('-p', '-m', 'PKCS8', '-P', PASSPHRASE, '-N', PASSPHRASE, '-f', copy);
  const key = await PrivateKey.load(copy, { passphrase: PASSPHRASE });
  t.is(key.fingerprint(), await sshFingerprint(`${f.sshOpensshEncrypted}.pub`));
});

test('inspects an encrypted OpenSSH key without its passphrase (the public half is in clear)', async (t) => {
  const info = await inspectKeyFile(f.sshOpensshEncrypted);
  t.deepEqual(info, {
    path: f.sshOpensshEncrypted,
    kind: 'private',
    format: 'openssh',
    encrypted: true,
    bits: 2048,
    fingerprint: await sshFingerprint(`${f.sshOpensshEncrypted}.pub`),
  });
});

test('refuses Ed25519 and EC keys with ERR_KEY_NOT_RSA', async (t) => {
  await expectKeyError(t, PrivateKey.load(f.sshEd25519), KeyErrorCode.NOT_RSA, { path: f.sshEd25519 });
  await expectKeyError(t, PublicKey.load(`${f.sshEd25519}.pub`), KeyErrorCode.NOT_RSA, {
    mentions: ['ssh-ed25519'],
  });
  await expectKeyError(t, PrivateKey.load(f.ecPkcs8), KeyErrorCode.NOT_RSA, { path: f.ecPkcs8 });
});

test('refuses a 1024-bit RSA key with ERR_KEY_TOO_SMALL', async (t) => {
  await expectKeyError(t, PrivateKey.load(f.rsa1024), KeyErrorCode.TOO_SMALL, {
    path: f.rsa1024,
    mentions: ['1024', '2048'],
  });
});

test('loads DER: PKCS#1, PKCS#8, SPKI and PKCS#1 public', async (t) => {
  const expected = await sshFingerprint(f.opensslPkcs8);
  t.is((await PrivateKey.load(f.pkcs1Der)).fingerprint(), expected);
  t.is((await PrivateKey.load(f.pkcs8Der)).fingerprint(), expected);
  t.is((await PublicKey.load(f.spkiDer)).fingerprint(), expected);
  t.is((await PublicKey.load(f.pkcs1PublicDer)).fingerprint(), expected);
  t.is((await PublicKey.load(f.opensslPkcs1Public)).fingerprint(), expected);
});

test('reports the detected format of every fixture', async (t) => {
  const cases: [string, string, string, boolean][] = [
    [f.opensslPkcs8, 'private', 'pkcs8-pem', false],
    [f.opensslSpki, 'public', 'spki-pem', false],
    [f.opensslPkcs1Public, 'public', 'pkcs1-pem', false],
    [f.pkcs1Der, 'private', 'pkcs1-der', false],
    [f.pkcs8Der, 'private', 'pkcs8-der', false],
    [f.spkiDer, 'public', 'spki-der', false],
    [f.pkcs1PublicDer, 'public', 'pkcs1-der', false],
    [f.encryptedPkcs8Pem, 'private', 'pkcs8-pem', true],
    [f.encryptedPkcs8Der, 'private', 'pkcs8-der', true],
    [f.legacyEncryptedPem, 'private', 'pkcs1-pem', true],
    [f.sshPem, 'private', 'pkcs1-pem', false],
    [f.sshOpenssh, 'private', 'openssh', false],
    [`${f.sshOpenssh}.pub`, 'public', 'openssh', false],
  ];
  for (const [path, kind, format, encrypted] of cases) {
    const info = await inspectKeyFile(path, { passphrase: PASSPHRASE });
    t.deepEqual([info.kind, info.format, info.encrypted], [kind, format, encrypted], path);
  }
});

for (const name of ['encryptedPkcs8Pem', 'encryptedPkcs8Der', 'legacyEncryptedPem'] as const) {
  test(`${name}: right passphrase loads, wrong one is ERR_KEY_PASSPHRASE, none is ERR_KEY_ENCRYPTED`, async (t) => {
    const path = f[name];
    const expected = await sshFingerprint(f.opensslPkcs8);
    t.is((await PrivateKey.load(path, { passphrase: PASSPHRASE })).fingerprint(), expected);
    t.is((await PrivateKey.load(path, { passphrase: Buffer.from(PASSPHRASE) })).fingerprint(), expected);
    const wrong = await expectKeyError(
      t,
      PrivateKey.load(path, { passphrase: 'not it' }),
      KeyErrorCode.PASSPHRASE,
      {
        path,
      },
    );
    t.false(wrong.message.includes('not it'));
    await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.ENCRYPTED, { path });
    await expectKeyError(t, () => PrivateKey.loadSync(path), KeyErrorCode.ENCRYPTED, { path });
  });
}

test('loadSync reads the same keys as load', async (t) => {
  t.is(PrivateKey.loadSync(f.sshOpenssh).fingerprint(), (await PrivateKey.load(f.sshOpenssh)).fingerprint());
  t.is(PublicKey.loadSync(f.spkiDer).fingerprint(), await sshFingerprint(f.opensslPkcs8));
});

test('loadKey returns the class matching the file', async (t) => {
  t.true((await loadKey(f.opensslPkcs8)) instanceof PrivateKey);
  t.true((await loadKey(f.opensslSpki)) instanceof PublicKey);
  t.true((await loadKey(`${f.sshOpenssh}.pub`)) instanceof PublicKey);
});

test('refuses a private key where a public key is expected, and the reverse', async (t) => {
  await expectKeyError(t, PublicKey.load(f.opensslPkcs8), KeyErrorCode.FORMAT, {
    path: f.opensslPkcs8,
    mentions: ['private key'],
  });
  await expectKeyError(t, PrivateKey.load(f.opensslSpki), KeyErrorCode.FORMAT, {
    path: f.opensslSpki,
    mentions: ['public key'],
  });
});

test('accepts CRLF line endings, a UTF-8 BOM and text around a PEM block', async (t) => {
  const pem = await readFile(f.opensslSpki, 'utf8');
  const expected = await sshFingerprint(f.opensslPkcs8);
  t.is(PublicKey.fromString(pem.replace(/\n/g, '\r\n')).fingerprint(), expected);
  t.is(PublicKey.fromString(`\uFEFF${pem}`).fingerprint(), expected);
  t.is(PublicKey.fromString(`Public key of server 1:\n${pem}\ntrailing notes\n`).fingerprint(), expected);
});

test('fromBuffer and fromString parse the same bytes as load', async (t) => {
  const data = await readFile(f.legacyEncryptedPem);
  const expected = await sshFingerprint(f.opensslPkcs8);
  t.is(PrivateKey.fromBuffer(data, { passphrase: PASSPHRASE }).fingerprint(), expected);
  t.is(PrivateKey.fromString(data.toString('utf8'), { passphrase: PASSPHRASE }).fingerprint(), expected);
  t.is(PublicKey.fromBuffer(await readFile(f.spkiDer)).fingerprint(), expected);
});
