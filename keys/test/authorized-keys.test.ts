import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { AuthorizedKeys, KeyErrorCode, PublicKey } from '@secsess/keys';
import { expectKeyError } from './helpers/assert.js';
import { makeTempDir } from './helpers/tools.js';
import { ed25519Line, rsaPublicKeys, smallRsaLine } from './helpers/trust.js';

let dir!: string;
let cleanup: (() => Promise<void>) | undefined;
let a!: PublicKey;
let b!: PublicKey;
let c!: PublicKey;
let d!: PublicKey;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-authorized-'));
  [a, b, c, d] = (await rsaPublicKeys(4)) as [PublicKey, PublicKey, PublicKey, PublicKey];
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (): string => join(dir, `case-${counter++}`, 'authorized_keys');

async function fileWith(text: string, mode = 0o600): Promise<string> {
  const path = fresh();
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text, { mode });
  await chmod(path, mode);
  return path;
}

const pem = (key: PublicKey, format: 'pem' | 'pkcs1'): string =>
  key.encode({ format }).toString('utf8').trim();

test('reads ssh-rsa lines and PEM public keys (SPKI and PKCS#1) among comments and blank lines', async (t) => {
  const text = [
    '# team keys', // 1
    `ssh-rsa ${a.toOpenSSH().split(' ')[1]} alice@laptop with spaces`, // 2
    '', // 3
    pem(b, 'pem'), // 4.. (SPKI block)
    '   ',
    pem(c, 'pkcs1'),
    `${d.toOpenSSH('dave')}\r`, // CRLF line
  ].join('\n');
  const keys = AuthorizedKeys.fromString(text);
  t.is(keys.size, 4);
  t.deepEqual(keys.skipped, []);
  t.true(keys.has(a) && keys.has(b) && keys.has(c) && keys.has(d));
  const spkiLines = pem(b, 'pem').split('\n').length;
  const pkcs1Line = 4 + spkiLines + 1;
  t.deepEqual(
    keys.entries().map(({ fingerprint, comment, line }) => ({ fingerprint, comment, line })),
    [
      { fingerprint: a.fingerprint(), comment: 'alice@laptop with spaces', line: 2 },
      { fingerprint: b.fingerprint(), comment: '', line: 4 },
      { fingerprint: c.fingerprint(), comment: '', line: pkcs1Line },
      { fingerprint: d.fingerprint(), comment: 'dave', line: pkcs1Line + pem(c, 'pkcs1').split('\n').length },
    ],
  );
  const found = keys.find(a);
  t.true(found?.key.equals(a));
  t.is(found?.line, 2);
});

test('has() and find() look keys up by fingerprint; unknown keys are not found', (t) => {
  const keys = AuthorizedKeys.fromString(`${a.toOpenSSH()}\n`);
  t.false(keys.has(b));
  t.is(keys.find(b), undefined);
  // Another object for the same key is found.
  t.true(keys.has(PublicKey.fromString(a.toOpenSSH('other comment'))));
  t.throws(() => keys.has('ssh-rsa AAAA' as never), { instanceOf: TypeError });
});

test('a key listed twice is authorized once, by its first line', (t) => {
  const keys = AuthorizedKeys.fromString(
    `${a.toOpenSSH('first')}\n${pem(a, 'pem')}\n${a.toOpenSSH('second')}\n`,
  );
  t.is(keys.size, 1);
  t.like(keys.find(a), { line: 1, comment: 'first' });
  t.deepEqual(keys.skipped, []);
});

test('lines with OpenSSH options are skipped and reported, never authorized', (t) => {
  const text = [
    `from="10.0.0.0/8,192.168.0.1" ${a.toOpenSSH('restricted')}`,
    `command="echo \\"hi there\\"",no-pty ${b.toOpenSSH()}`,
    `restrict ${c.toOpenSSH()}`,
    `no-pty ${ed25519Line()}`,
    d.toOpenSSH('plain'),
  ].join('\n');
  const keys = AuthorizedKeys.fromString(text);
  t.false(keys.has(a));
  t.false(keys.has(b));
  t.false(keys.has(c));
  t.true(keys.has(d));
  const unsupported = 'are not supported by secsess; the key was not authorized';
  t.deepEqual(keys.skipped.slice(0, 3), [
    { line: 1, reason: `options (from) ${unsupported}`, fingerprint: a.fingerprint() },
    { line: 2, reason: `options (command, no-pty) ${unsupported}`, fingerprint: b.fingerprint() },
    { line: 3, reason: `options (restrict) ${unsupported}`, fingerprint: c.fingerprint() },
  ]);
  t.like(keys.skipped[3], { line: 4, reason: `options (no-pty) ${unsupported}` });
  t.is(keys.skipped.length, 4);
});

test('non-RSA keys, small RSA keys and malformed lines are skipped with line and reason; the rest load', (t) => {
  const text = [
    ed25519Line('ed@host'), // 1
    smallRsaLine(), // 2
    a.toOpenSSH().slice(0, 120), // 3: truncated
    'hello world', // 4
    `from="unterminated ${b.toOpenSSH()}`, // 5
    '-----BEGIN PRIVATE KEY-----', // 6
    'MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA',
    '-----END PRIVATE KEY-----',
    '-----BEGIN PUBLIC KEY-----', // 9: no END
    'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA',
    b.toOpenSSH('after the broken block'), // 11
    '-----BEGIN CERTIFICATE-----', // 12
    'MIIB',
    '-----END CERTIFICATE-----',
    `ssh-dss ${Buffer.from('\0\0\0\x07ssh-dss', 'latin1').toString('base64')}`, // 15
  ].join('\n');
  const keys = AuthorizedKeys.fromString(text);
  t.deepEqual(
    keys.entries().map((entry) => entry.line),
    [11],
  );
  const skipped = keys.skipped;
  t.deepEqual(
    skipped.map((entry) => entry.line),
    [1, 2, 3, 4, 5, 6, 9, 12, 15],
  );
  const reason = (line: number): string => skipped.find((entry) => entry.line === line)?.reason ?? '';
  t.is(reason(1), 'ssh-ed25519 key: secsess accepts only RSA keys');
  t.regex(skipped[0]?.fingerprint ?? '', /^SHA256:/);
  t.regex(reason(2), /1024-bit RSA key; secsess needs at least 2048 bits/);
  t.regex(reason(3), /truncated/);
  t.regex(reason(4), /not a public key line/);
  t.regex(reason(5), /not a public key line/);
  t.regex(reason(6), /PRIVATE KEY block: a private key never belongs in authorized_keys/);
  t.regex(reason(9), /"BEGIN PUBLIC KEY" block has no END line/);
  t.regex(reason(12), /"CERTIFICATE" PEM block is not a public key/);
  t.is(reason(15), 'ssh-dss key: secsess accepts only RSA keys');
});

test('load reads the file; a missing file is ERR_KEY_FILE_NOT_FOUND saying how to create it', async (t) => {
  const path = await fileWith(`${a.toOpenSSH('x')}\n${ed25519Line()}\n`);
  const keys = await AuthorizedKeys.load(path);
  t.is(keys.path, path);
  t.is(keys.size, 1);
  t.is(keys.skipped.length, 1);
  const missing = fresh();
  await expectKeyError(t, AuthorizedKeys.load(missing), KeyErrorCode.FILE_NOT_FOUND, {
    path: missing,
    mentions: ['authorized_keys file', `secsess-keygen authorize add KEYFILE --file ${missing}`],
  });
});

test('an authorized_keys file writable by group or others is refused unless allowed', async (t) => {
  const path = await fileWith(`${a.toOpenSSH()}\n`, 0o620);
  await expectKeyError(t, AuthorizedKeys.load(path), KeyErrorCode.PERMISSIONS, {
    path,
    mentions: ['mode 0620', `chmod 600 ${path}`],
  });
  t.true((await AuthorizedKeys.load(path, { allowInsecurePermissions: true })).has(a));
});

test('reload swaps in the new set and counts keys added and removed', async (t) => {
  const path = await fileWith(`${a.toOpenSSH()}\n${b.toOpenSSH()}\n`);
  const keys = await AuthorizedKeys.load(path);
  await writeFile(path, `${b.toOpenSSH()}\n${c.toOpenSSH()}\n${d.toOpenSSH()}\n${ed25519Line()}\n`);
  t.deepEqual(await keys.reload(), { added: 2, removed: 1 });
  t.false(keys.has(a));
  t.true(keys.has(b) && keys.has(c) && keys.has(d));
  t.is(keys.size, 3);
  t.is(keys.skipped.length, 1);
  t.deepEqual(await keys.reload(), { added: 0, removed: 0 });
});

test('a failed reload keeps the current keys and throws a coded error', async (t) => {
  const path = await fileWith(`${a.toOpenSSH()}\n`);
  const keys = await AuthorizedKeys.load(path);
  await chmod(path, 0o666);
  await expectKeyError(t, keys.reload(), KeyErrorCode.PERMISSIONS, { path });
  t.true(keys.has(a));
  await rm(path);
  await expectKeyError(t, keys.reload(), KeyErrorCode.FILE_NOT_FOUND, { path });
  t.true(keys.has(a));
  t.is(keys.size, 1);
  await mkdir(path);
  await expectKeyError(t, keys.reload(), KeyErrorCode.FILE_UNREADABLE, { path });
  t.true(keys.has(a));
  await t.throwsAsync(AuthorizedKeys.fromString('').reload(), { instanceOf: TypeError, message: /load\(\)/ });
});

test('add appends an ssh-rsa line, creating the file 0600 and directory 0700, never twice', async (t) => {
  const path = fresh();
  t.deepEqual(await AuthorizedKeys.add(path, a, 'alice'), { added: true, line: 1 });
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.is((await stat(join(path, '..'))).mode & 0o777, 0o700);
  t.deepEqual(await AuthorizedKeys.add(path, b), { added: true, line: 2 });
  t.deepEqual(await AuthorizedKeys.add(path, a, 'alice again'), { added: false, line: 1 });
  t.is(await readFile(path, 'utf8'), `${a.toOpenSSH('alice')}\n${b.toOpenSSH()}\n`);
  await t.throwsAsync(stat(`${path}.lock`), { code: 'ENOENT' });
  const keys = await AuthorizedKeys.load(path);
  t.like(keys.find(a), { comment: 'alice', line: 1 });
});

test('add finds keys given as PEM and appends after a last line without newline', async (t) => {
  const path = await fileWith(`# ops\n${pem(a, 'pem')}\n${b.toOpenSSH()}`);
  const lines = 2 + pem(a, 'pem').split('\n').length;
  t.deepEqual(await AuthorizedKeys.add(path, a), { added: false, line: 2 });
  t.deepEqual(await AuthorizedKeys.add(path, c, 'carol'), { added: true, line: lines + 1 });
  const keys = await AuthorizedKeys.load(path);
  t.is(keys.size, 3);
  t.like(keys.find(c), { line: lines + 1, comment: 'carol' });
  t.true((await readFile(path, 'utf8')).endsWith(`${b.toOpenSSH()}\n${c.toOpenSSH('carol')}\n`));
});

test('a key only listed with options is added as a plain line by add()', async (t) => {
  const path = await fileWith(`no-pty ${a.toOpenSSH()}\n`);
  t.deepEqual(await AuthorizedKeys.add(path, a), { added: true, line: 2 });
  const keys = await AuthorizedKeys.load(path);
  t.like(keys.find(a), { line: 2 });
  t.is(keys.skipped.length, 1);
});

test('arguments are validated up front', async (t) => {
  await t.throwsAsync(AuthorizedKeys.add('', a), { instanceOf: TypeError });
  await t.throwsAsync(AuthorizedKeys.add(fresh(), {} as never), { instanceOf: TypeError });
  await t.throwsAsync(AuthorizedKeys.add(fresh(), a, 'two\nlines'), { instanceOf: TypeError });
  await t.throwsAsync(AuthorizedKeys.load(fresh(), { lock: { staleMs: -5 } }), { instanceOf: RangeError });
  t.throws(() => AuthorizedKeys.fromString(42 as never), { instanceOf: TypeError });
});

test('a file cut at any byte authorizes only keys it holds whole', (t) => {
  const text = `${a.toOpenSSH('alice')}\n${pem(b, 'pem')}\n`;
  const aEnd = a.toOpenSSH().length;
  const bEnd = text.indexOf('-----END PUBLIC KEY-----') + '-----END PUBLIC KEY-----'.length;
  for (let end = 0; end <= text.length; end++) {
    const keys = AuthorizedKeys.fromString(text.slice(0, end));
    t.is(keys.has(a), end >= aEnd, `cut at ${end}`);
    t.is(keys.has(b), end >= bEnd, `cut at ${end}`);
    t.is(keys.size, Number(end >= aEnd) + Number(end >= bEnd));
  }
});

test('remove drops every line and PEM block of a key (by key or fingerprint), keeps the rest byte for byte and the mode', async (t) => {
  const text = [
    '# team keys', // 1
    `ssh-rsa ${a.toOpenSSH().split(' ')[1]} alice`, // 2
    '', // 3
    pem(b, 'pem'), // 4..
  ].join('\n');
  const path = await fileWith(
    `${text}\n${b.toOpenSSH('bob again')}\nno-pty ${b.toOpenSSH('bob with options')}\r\n${c.toOpenSSH()}`,
    0o640,
  );
  t.is(await AuthorizedKeys.remove(path, b), 3);
  t.is(
    await readFile(path, 'utf8'),
    `# team keys\nssh-rsa ${a.toOpenSSH().split(' ')[1]} alice\n\n${c.toOpenSSH()}\n`,
  );
  t.is((await stat(path)).mode & 0o777, 0o640);
  t.is(await AuthorizedKeys.remove(path, `${a.fingerprint()}=`), 1);
  t.deepEqual(
    (await AuthorizedKeys.load(path)).entries().map((e) => e.fingerprint),
    [c.fingerprint()],
  );
  t.is(await AuthorizedKeys.remove(path, d), 0, 'a key not there: nothing removed');
  t.is(await AuthorizedKeys.remove(fresh(), a), 0, 'a missing file: nothing removed, nothing created');
  await t.throwsAsync(AuthorizedKeys.remove(path, 'SHA256:short'), { instanceOf: TypeError });
});
