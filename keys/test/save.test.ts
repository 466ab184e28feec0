import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { KeyErrorCode, KeyPair, PrivateKey, PublicKey } from '@secsess/keys';
import type { PrivateKeyFormat, PublicKeyFormat } from '@secsess/keys';
import { decodeOpenSshPem, readOpenSshPrivateContainer } from '../src/openssh.js';
import { expectKeyError } from './helpers/assert.js';
import {
  isRoot,
  makeTempDir,
  mustRun,
  openssl,
  runTool,
  sshFingerprint,
  sshFingerprintOfPemPublic,
  sshKeygen,
} from './helpers/tools.js';

let dir!: string;
let cleanup!: () => Promise<void>;
let pair!: KeyPair;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir());
  pair = await KeyPair.generateRSA({ bits: 2048 });
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

const privateFormats: PrivateKeyFormat[] = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'];
const publicFormats: PublicKeyFormat[] = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'];

for (const format of privateFormats) {
  test(`private key round trip through '${format}', written 0600`, async (t) => {
    const path = fresh(`private.${format}`);
    await pair.privateKey.save(path, { format });
    t.is(await modeOf(path), 0o600);
    const loaded = await PrivateKey.load(path);
    t.true(loaded.publicKey.equals(pair.publicKey));
    t.true(loaded.keyObject.equals(pair.privateKey.keyObject));
  });
}

for (const format of publicFormats) {
  test(`public key round trip through '${format}', written 0644`, async (t) => {
    const path = fresh(`public.${format}`);
    await pair.publicKey.save(path, { format });
    t.is(await modeOf(path), 0o644);
    t.true((await PublicKey.load(path)).equals(pair.publicKey));
  });
}

for (const format of ['pem', 'der'] as const) {
  test(`passphrase-encrypted PKCS#8 '${format}' round trip, readable by openssl`, async (t) => {
    const path = fresh(`encrypted.${format}`);
    await pair.privateKey.save(path, { format, passphrase: 'p4ss' });
    const data = await readFile(path);
    if (format === 'pem') t.true(data.toString().startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'));
    await expectKeyError(t, PrivateKey.load(path), KeyErrorCode.ENCRYPTED);
    await expectKeyError(t, PrivateKey.load(path, { passphrase: 'nope' }), KeyErrorCode.PASSPHRASE);
    t.true((await PrivateKey.load(path, { passphrase: 'p4ss' })).publicKey.equals(pair.publicKey));
    const check = await runTool('openssl', [
      'pkey',
      '-check',
      '-noout',
      '-inform',
      format.toUpperCase(),
      '-in',
      path,
      '-passin',
      'pass:p4ss',
    ]);
    t.is(check.code, 0, check.stderr);
    t.regex(check.stdout + check.stderr, /Key is valid/);
    const asn1 = await openssl('asn1parse', '-inform', format.toUpperCase(), '-in', path);
    t.true(asn1.includes('aes-256-cbc'), 'PBES2 with aes-256-cbc');
    t.deepEqual(scryptParameters(asn1), { N: 16384, r: 8, p: 1, saltBytes: 16 }, asn1);
    t.false(asn1.includes('PBKDF2'), 'not PBKDF2 (node:crypto writes it with 2048 iterations)');
  });
}

/**
 * The KDF of an EncryptedPrivateKeyInfo as `openssl asn1parse` prints it: PBES2, then the
 * scrypt OID and its SEQUENCE of salt, N, r, p (RFC 7914 §7). `undefined` if not scrypt.
 */
function scryptParameters(asn1: string): { N: number; r: number; p: number; saltBytes: number } | undefined {
  const lines = asn1.split('\n');
  const pbes2 = lines.findIndex((line) => / OBJECT +:PBES2$/.test(line));
  const scrypt = lines.findIndex((line) => / OBJECT +:scrypt$/.test(line));
  if (pbes2 < 0 || scrypt < pbes2) return undefined;
  const salt = /prim: OCTET STRING +\[HEX DUMP\]:([0-9A-F]+)$/.exec(lines[scrypt + 2] ?? '');
  const integers = lines
    .slice(scrypt + 3, scrypt + 6)
    .map((line) => /prim: INTEGER +:([0-9A-F]+)$/.exec(line)?.[1]);
  if (salt?.[1] === undefined || integers.some((hex) => hex === undefined)) return undefined;
  const [N, r, p] = integers.map((hex) => parseInt(hex as string, 16)) as [number, number, number];
  return { N, r, p, saltBytes: salt[1].length / 2 };
}

test('KeyPair.save with a passphrase writes scrypt PKCS#8 too', async (t) => {
  const base = fresh('pair-scrypt');
  const { privateKeyPath } = await pair.save(base, { passphrase: 'p4ss' });
  const asn1 = await openssl('asn1parse', '-in', privateKeyPath);
  t.deepEqual(scryptParameters(asn1), { N: 16384, r: 8, p: 1, saltBytes: 16 });
  t.true((await PrivateKey.load(privateKeyPath, { passphrase: 'p4ss' })).publicKey.equals(pair.publicKey));
});

test('loads scrypt PKCS#8 written by openssl pkcs8 -scrypt', async (t) => {
  const plain = fresh('plain-for-openssl.pem');
  const encrypted = fresh('openssl-scrypt.pem');
  await pair.privateKey.save(plain);
  await openssl('pkcs8', '-topk8', '-scrypt', '-in', plain, '-passout', 'pass:p4ss', '-out', encrypted);
  await chmod(encrypted, 0o600);
  t.true((await PrivateKey.load(encrypted, { passphrase: 'p4ss' })).publicKey.equals(pair.publicKey));
  await expectKeyError(t, PrivateKey.load(encrypted, { passphrase: 'nope' }), KeyErrorCode.PASSPHRASE);
});

test('openssl pkey -check accepts the pem, pkcs1 and der outputs', async (t) => {
  for (const format of ['pem', 'pkcs1', 'der'] as const) {
    const path = fresh(`check.${format}`);
    await pair.privateKey.save(path, { format });
    const result = await runTool('openssl', [
      'pkey',
      '-check',
      '-noout',
      '-inform',
      format === 'der' ? 'DER' : 'PEM',
      '-in',
      path,
    ]);
    t.is(result.code, 0, result.stderr);
    t.regex(result.stdout + result.stderr, /Key is valid/);
  }
});

test('ssh-keygen reads the OpenSSH private key and derives the same .pub line', async (t) => {
  const path = fresh('id_rsa');
  await pair.privateKey.save(path, { format: 'openssh', comment: 'secsess test' });
  const text = await readFile(path, 'utf8');
  t.true(text.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----\n'));
  for (const line of text.trim().split('\n').slice(1, -1)) t.true(line.length <= 70);
  const derived = (await sshKeygen('-y', '-f', path)).trim();
  t.is(derived.split(' ').slice(0, 2).join(' '), pair.publicKey.toOpenSSH());
  t.is(await sshFingerprint(path), pair.publicKey.fingerprint());
  // ssh-keygen can re-encrypt it (i.e. fully parses the private section) and convert it to PEM.
  await sshKeygen('-p', '-N', '', '-m', 'PEM', '-f', path);
  const pkcs1 = await readFile(path, 'utf8');
  t.true(pkcs1.startsWith('-----BEGIN RSA PRIVATE KEY-----'));
  t.true((await PrivateKey.load(path)).keyObject.equals(pair.privateKey.keyObject));
});

test('the OpenSSH private key carries a random checkint, written twice as OpenSSH does', async (t) => {
  const a = decodeOpenSshPem(pair.privateKey.encode({ format: 'openssh' }).toString());
  const b = decodeOpenSshPem(pair.privateKey.encode({ format: 'openssh' }).toString());
  const ha = readOpenSshPrivateContainer(a);
  const hb = readOpenSshPrivateContainer(b);
  if (ha === undefined || hb === undefined) throw new Error('unreadable container');
  const checkA = a.subarray(ha.checkOffset, ha.checkOffset + 4);
  t.deepEqual(checkA, a.subarray(ha.checkOffset + 4, ha.checkOffset + 8));
  t.notDeepEqual(checkA, b.subarray(hb.checkOffset, hb.checkOffset + 4));
});

test('our OpenSSH .pub and PEM public key give the fingerprint ssh-keygen computes', async (t) => {
  const pub = fresh('key.pub');
  await pair.publicKey.save(pub, { format: 'openssh', comment: 'me@host' });
  t.is(await sshFingerprint(pub), pair.publicKey.fingerprint());
  t.is((await readFile(pub, 'utf8')).trim(), `${pair.publicKey.toOpenSSH()} me@host`);
  const pem = fresh('key.pub.pem');
  await pair.publicKey.save(pem);
  t.is(await sshFingerprintOfPemPublic(pem), pair.publicKey.fingerprint());
  const viaOpenssl = await mustRun('openssl', ['pkey', '-pubin', '-in', pem, '-outform', 'DER']);
  t.true(viaOpenssl.length > 0);
});

test('the JWK output is what node:crypto and the JWK spec expect', async (t) => {
  const jwk = JSON.parse(pair.publicKey.encode({ format: 'jwk' }).toString()) as Record<string, unknown>;
  t.deepEqual(Object.keys(jwk).sort(), ['e', 'kty', 'n']);
  t.is(jwk['kty'], 'RSA');
  t.is(jwk['e'], 'AQAB');
  const priv = JSON.parse(pair.privateKey.encode({ format: 'jwk' }).toString()) as Record<string, unknown>;
  t.deepEqual(Object.keys(priv).sort(), ['d', 'dp', 'dq', 'e', 'kty', 'n', 'p', 'q', 'qi']);
});

test('refuses to overwrite without force; force replaces atomically', async (t) => {
  const path = fresh('exists.key');
  await writeFile(path, 'original', { mode: 0o600 });
  await expectKeyError(t, pair.privateKey.save(path), KeyErrorCode.FILE_EXISTS, { path });
  t.is(await readFile(path, 'utf8'), 'original');
  await pair.privateKey.save(path, { force: true });
  t.true((await PrivateKey.load(path)).keyObject.equals(pair.privateKey.keyObject));
  t.is(await modeOf(path), 0o600);
});

test('force on a world-readable file leaves a 0600 file', async (t) => {
  const path = fresh('was-open.key');
  await writeFile(path, 'x', { mode: 0o644 });
  await pair.privateKey.save(path, { force: true });
  t.is(await modeOf(path), 0o600);
});

test('refuses to overwrite a dangling symlink without force', async (t) => {
  const path = fresh('link.key');
  await symlink(join(dir, 'nowhere'), path);
  await expectKeyError(t, pair.privateKey.save(path), KeyErrorCode.FILE_EXISTS, { path });
});

test('leaves no temporary files behind, on success or on refusal', async (t) => {
  const { dir: sub, cleanup: done } = await makeTempDir();
  try {
    await pair.privateKey.save(join(sub, 'a.key'));
    await pair.publicKey.save(join(sub, 'a.pub'));
    await t.throwsAsync(pair.privateKey.save(join(sub, 'a.key')));
    t.deepEqual((await readdir(sub)).sort(), ['a.key', 'a.pub']);
  } finally {
    await done();
  }
});

// Serial: the umask is process-wide, and serial tests run before the concurrent ones.
test.serial('a private key file is 0600 even with a permissive umask', async (t) => {
  const previous = process.umask(0o000);
  try {
    const path = fresh('umask.key');
    await pair.privateKey.save(path);
    t.is(await modeOf(path), 0o600);
    const pub = fresh('umask.pub');
    await pair.publicKey.save(pub);
    t.is(await modeOf(pub), 0o644);
  } finally {
    process.umask(previous);
  }
});

test('option errors are TypeErrors raised before anything is written', async (t) => {
  const path = fresh('never.key');
  for (const format of ['openssh', 'jwk', 'pkcs1'] as const) {
    await t.throwsAsync(pair.privateKey.save(path, { format, passphrase: 'x' }), {
      instanceOf: TypeError,
      message: new RegExp(`'${format}' cannot carry a passphrase`),
    });
  }
  await t.throwsAsync(pair.privateKey.save(path, { passphrase: '' }), {
    instanceOf: TypeError,
    message: /empty/,
  });
  await t.throwsAsync(pair.privateKey.save(path, { format: 'xml' as never }), {
    instanceOf: TypeError,
    message: /format must be one of/,
  });
  await t.throwsAsync(pair.publicKey.save(path, { format: 'openssh', comment: 'two\nlines' }), {
    instanceOf: TypeError,
  });
  await t.throwsAsync(pair.privateKey.save(path, { passphrase: 42 as never }), { instanceOf: TypeError });
  await t.throwsAsync(stat(path));
});

test('KeyPair.save writes <base>.key and <base>.pub and refuses if either exists', async (t) => {
  const base = fresh('pair');
  const paths = await pair.save(base, { format: 'openssh', comment: 'c' });
  t.deepEqual(paths, { privateKeyPath: `${base}.key`, publicKeyPath: `${base}.pub` });
  t.is(await modeOf(paths.privateKeyPath), 0o600);
  t.is(await modeOf(paths.publicKeyPath), 0o644);
  t.is(await sshFingerprint(paths.publicKeyPath), pair.publicKey.fingerprint());
  const other = fresh('pair2');
  await writeFile(`${other}.pub`, 'keep');
  await expectKeyError(t, pair.save(other), KeyErrorCode.FILE_EXISTS, { path: `${other}.pub` });
  await t.throwsAsync(stat(`${other}.key`), undefined, 'the .key must not be written either');
  await t.throwsAsync(pair.save(fresh('pair3'), { format: 'openssh', passphrase: 'x' }), {
    instanceOf: TypeError,
  });
});

if (!isRoot()) {
  test('ERR_KEY_FILE_UNWRITABLE in a read-only directory', async (t) => {
    const ro = fresh('ro');
    await mkdir(ro, { mode: 0o500 });
    try {
      await expectKeyError(t, pair.publicKey.save(join(ro, 'k.pub')), KeyErrorCode.FILE_UNWRITABLE);
    } finally {
      await chmod(ro, 0o700);
    }
  });
}

test("KeyPair.save('dir/name') creates the missing directories with mode 0700", async (t) => {
  const base = join(fresh('new'), 'keys', 'server');
  const paths = await pair.save(base);
  t.deepEqual(paths, { privateKeyPath: `${base}.key`, publicKeyPath: `${base}.pub` });
  t.is(await modeOf(join(base, '..')), 0o700);
  t.is(await modeOf(join(base, '..', '..')), 0o700);
  t.is(await modeOf(paths.privateKeyPath), 0o600);
  t.is((await PrivateKey.load(paths.privateKeyPath)).fingerprint(), pair.publicKey.fingerprint());
  // An existing directory is used as it is.
  const shared = fresh('shared');
  await mkdir(shared, { mode: 0o755 });
  await chmod(shared, 0o755);
  await pair.save(join(shared, 'server'));
  t.is(await modeOf(shared), 0o755);
});

test('KeyPair.save below a regular file is ERR_KEY_FILE_UNWRITABLE naming the directory', async (t) => {
  const file = fresh('plain');
  await writeFile(file, 'not a directory');
  const base = join(file, 'sub', 'server');
  await expectKeyError(t, pair.save(base), KeyErrorCode.FILE_UNWRITABLE, {
    path: `${base}.key`,
    mentions: [`cannot create directory ${join(file, 'sub')}`, 'ENOTDIR'],
  });
});
