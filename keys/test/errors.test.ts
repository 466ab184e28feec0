import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { KeyError, KeyErrorCode, KeyPair, PrivateKey, PublicKey, SecsessError } from '@secsess/keys';
import { decodeOpenSshPem, readOpenSshPrivateContainer } from '../src/openssh.js';
import { expectKeyError } from './helpers/assert.js';
import { makeFixtures, PASSPHRASE, writeFixture } from './helpers/fixtures.js';
import type { Fixtures } from './helpers/fixtures.js';
import { isRoot } from './helpers/tools.js';

let f!: Fixtures;
test.before(async () => {
  f = await makeFixtures();
});
test.after.always(async () => {
  await f?.cleanup();
});

test('KeyError is a SecsessError with a stable code, a name and the file path', (t) => {
  const error = new KeyError(KeyErrorCode.FORMAT, 'message', { path: '/x' });
  t.true(error instanceof SecsessError);
  t.true(error instanceof Error);
  t.is(error.name, 'KeyError');
  t.is(error.code, 'ERR_KEY_FORMAT');
  t.is(error.path, '/x');
});

test('every KeyErrorCode is a distinct ERR_KEY_ string', (t) => {
  const codes = Object.values(KeyErrorCode);
  t.is(new Set(codes).size, codes.length);
  for (const code of codes) t.regex(code, /^ERR_KEY_[A-Z_]+$/);
  t.deepEqual([...codes].sort(), [
    'ERR_KEY_ENCRYPTED',
    'ERR_KEY_FILE_EXISTS',
    'ERR_KEY_FILE_NOT_FOUND',
    'ERR_KEY_FILE_OWNER',
    'ERR_KEY_FILE_SYMLINK',
    'ERR_KEY_FILE_UNREADABLE',
    'ERR_KEY_FILE_UNWRITABLE',
    'ERR_KEY_FORMAT',
    'ERR_KEY_NOT_RSA',
    'ERR_KEY_OPENSSH_ENCRYPTED',
    'ERR_KEY_PASSPHRASE',
    'ERR_KEY_PERMISSIONS',
    'ERR_KEY_TOO_SMALL',
  ]);
});

test('ERR_KEY_FILE_NOT_FOUND names the missing file', async (t) => {
  const path = join(f.dir, 'missing.key');
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.FILE_NOT_FOUND, { path });
  await expectKeyError(t, PublicKey.load(path), KeyErrorCode.FILE_NOT_FOUND, { path });
  await expectKeyError(t, () => PrivateKey.loadSync(path), KeyErrorCode.FILE_NOT_FOUND, { path });
  await expectKeyError(t, PublicKey.load(join(f.opensslSpki, 'below-a-file')), KeyErrorCode.FILE_NOT_FOUND);
});

test('ERR_KEY_FILE_UNREADABLE for a directory', async (t) => {
  const path = join(f.dir, 'a-directory');
  await mkdir(path);
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.FILE_UNREADABLE, {
    path,
    mentions: ['directory'],
  });
  await expectKeyError(t, () => PublicKey.loadSync(path), KeyErrorCode.FILE_UNREADABLE, { path });
});

// Root reads files whatever their mode, so this case can only be observed as another user.
if (!isRoot()) {
  test('ERR_KEY_FILE_UNREADABLE for a file without read permission', async (t) => {
    const path = await writeFixture(f.dir, 'no-read.pub', await readFile(f.opensslSpki), 0o000);
    await expectKeyError(t, PublicKey.load(path), KeyErrorCode.FILE_UNREADABLE, {
      path,
      mentions: ['permission denied'],
    });
  });
}

test('ERR_KEY_FORMAT for empty, random and unknown data', async (t) => {
  const empty = await writeFixture(f.dir, 'empty.key', '');
  await expectKeyError(t, PrivateKey.load(empty), KeyErrorCode.FORMAT, { path: empty, mentions: ['empty'] });
  const random = await writeFixture(f.dir, 'random.key', Buffer.from([0x30, 0x82, 0xff, 0x00, 1, 2, 3]));
  await expectKeyError(t, PrivateKey.load(random), KeyErrorCode.FORMAT, { path: random });
  const text = await writeFixture(f.dir, 'text.key', 'hello, this is not a key\n');
  await expectKeyError(t, PrivateKey.load(text), KeyErrorCode.FORMAT, { path: text });
  const label = await writeFixture(f.dir, 'label.pem', '-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n');
  await expectKeyError(t, PublicKey.load(label), KeyErrorCode.FORMAT, { path: label, mentions: ['FOO'] });
  await expectKeyError(t, () => PublicKey.fromString('{"kty":"RSA","n":"AQAB"'), KeyErrorCode.FORMAT);
  await expectKeyError(t, () => PublicKey.fromString('{"keys":[]}'), KeyErrorCode.FORMAT);
  await expectKeyError(t, () => PublicKey.fromString('ssh-rsa AAAA$$$ comment'), KeyErrorCode.FORMAT);
});

test('ERR_KEY_FORMAT for a PEM whose END line is missing (truncated file)', async (t) => {
  const pem = await readFile(f.opensslPkcs8, 'utf8');
  const path = await writeFixture(f.dir, 'truncated.pem', pem.slice(0, pem.length / 2));
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.FORMAT, { path, mentions: ['truncated'] });
});

test('ERR_KEY_FORMAT for a PEM with lines missing in the middle', async (t) => {
  const lines = (await readFile(f.opensslPkcs8, 'utf8')).split('\n');
  lines.splice(5, 3);
  const path = await writeFixture(f.dir, 'holes.pem', lines.join('\n'));
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.FORMAT, { path });
});

test('ERR_KEY_FORMAT for a file over 1 MiB, without reading it as a key', async (t) => {
  const path = await writeFixture(f.dir, 'huge.key', Buffer.alloc(1024 * 1024 + 1, 0x41));
  await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.FORMAT, { path, mentions: ['too large'] });
});

test('ERR_KEY_FORMAT for an OpenSSH private key whose private half does not match its public half', async (t) => {
  // Put another key's public blob in the container header (same length: both 2048-bit).
  const container = decodeOpenSshPem(await readFile(f.sshOpenssh, 'utf8'));
  const header = readOpenSshPrivateContainer(container);
  if (header === undefined) throw new Error('fixture unreadable');
  const otherBlob = PublicKey.fromString(await readFile(`${f.sshPem}.pub`, 'utf8')).sshPublicBlob();
  t.is(otherBlob.length, header.publicBlob.length);
  const forged = Buffer.from(container);
  forged.set(otherBlob, container.indexOf(header.publicBlob));
  const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\n${forged.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
  await expectKeyError(t, () => PrivateKey.fromString(pem), KeyErrorCode.FORMAT);
  // The untouched container loads, so the refusal above is about the mismatch.
  const original = `-----BEGIN OPENSSH PRIVATE KEY-----\n${container.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
  t.is(PrivateKey.fromString(original).bits, 2048);
});

test('ERR_KEY_ENCRYPTED and ERR_KEY_PASSPHRASE never reveal the passphrase', async (t) => {
  const wrong = 'hunter2-wrong-passphrase';
  const error = await expectKeyError(
    t,
    PrivateKey.load(f.encryptedPkcs8Pem, { passphrase: wrong }),
    KeyErrorCode.PASSPHRASE,
  );
  t.false(error.message.includes(wrong));
  t.false(error.message.includes(PASSPHRASE));
  await expectKeyError(t, PrivateKey.load(f.encryptedPkcs8Pem), KeyErrorCode.ENCRYPTED, {
    mentions: ['passphrase'],
  });
});

test('no error message contains key material', async (t) => {
  const pem = await readFile(f.opensslPkcs8, 'utf8');
  const body = pem.split('\n').slice(1, -2).join('');
  const damaged = [
    pem.replace('-----END PRIVATE KEY-----', ''),
    pem.replace(/MII/, 'XYZ'),
    `{"kty":"RSA","d":"${body.slice(0, 40)}"`,
    `ssh-rsa ${body.slice(0, 41)}`,
  ];
  for (const text of damaged) {
    const error = t.throws(() => PrivateKey.fromString(text));
    if (!(error instanceof KeyError)) {
      t.fail(`expected KeyError, got ${String(error)}`);
      continue;
    }
    for (let i = 0; i + 16 <= body.length; i += 16) {
      t.false(error.message.includes(body.slice(i, i + 16)), `message leaks key data: ${error.message}`);
    }
  }
});

test('ERR_KEY_PERMISSIONS for a private key readable by others, with the chmod to run', async (t) => {
  const path = join(f.dir, 'loose.key');
  await writeFile(path, await readFile(f.opensslPkcs8));
  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    await chmod(path, mode);
    await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.PERMISSIONS, {
      path,
      mentions: [`chmod 600 ${path}`],
    });
    await expectKeyError(t, () => PrivateKey.loadSync(path), KeyErrorCode.PERMISSIONS, { path });
  }
  const allowed = await PrivateKey.load(path, { allowInsecurePermissions: true });
  t.is(allowed.bits, 2048);
  await chmod(path, 0o600);
  t.is((await PrivateKey.load(path)).bits, 2048);
  await chmod(path, 0o400);
  t.is((await PrivateKey.load(path)).bits, 2048);
});

test('public key files may be world-readable', async (t) => {
  const path = await writeFixture(f.dir, 'open.pub', await readFile(f.opensslSpki), 0o644);
  t.is((await PublicKey.load(path)).bits, 2048);
});

test('ERR_KEY_FILE_EXISTS: save refuses to overwrite without force', async (t) => {
  const key = await PrivateKey.load(f.opensslPkcs8);
  const path = join(f.dir, 'exists.key');
  await writeFile(path, 'keep me');
  await expectKeyError(t, key.save(path), KeyErrorCode.FILE_EXISTS, { path });
  t.is(await readFile(path, 'utf8'), 'keep me');
});

test('ERR_KEY_FILE_UNWRITABLE when the directory does not exist', async (t) => {
  const key = await PublicKey.load(f.opensslSpki);
  const path = join(f.dir, 'no', 'such', 'dir', 'k.pub');
  await expectKeyError(t, key.save(path), KeyErrorCode.FILE_UNWRITABLE, { path });
});

test('ERR_KEY_TOO_SMALL and RangeError/TypeError from generateRSA', async (t) => {
  await expectKeyError(t, KeyPair.generateRSA({ bits: 1024 as never }), KeyErrorCode.TOO_SMALL, {
    mentions: ['1024', '2048'],
  });
  await t.throwsAsync(KeyPair.generateRSA({ bits: 5000 as never }), { instanceOf: RangeError });
  await t.throwsAsync(KeyPair.generateRSA({ bits: 2048.5 as never }), { instanceOf: RangeError });
  await t.throwsAsync(KeyPair.generateRSA({ bits: '2048' as never }), { instanceOf: TypeError });
});
