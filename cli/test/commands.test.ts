import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { makeFixtures, PASSPHRASE } from '../../keys/test/helpers/fixtures.js';
import type { Fixtures } from '../../keys/test/helpers/fixtures.js';
import { runTool, sshFingerprint } from '../../keys/test/helpers/tools.js';
import { assertBuilt, lines, runCli } from './helpers/cli.js';

let f!: Fixtures;
let passphraseFile!: string;
test.before(async () => {
  assertBuilt();
  f = await makeFixtures();
  passphraseFile = join(f.dir, 'passphrase.txt');
  await writeFile(passphraseFile, `${PASSPHRASE}\n`);
});
test.after.always(async () => {
  await f?.cleanup();
});

let counter = 0;
const fresh = (name: string): string => join(f.dir, `out-${counter++}-${name}`);

test('fingerprint prints what ssh-keygen -l -E sha256 prints, for public and private files', async (t) => {
  for (const path of [f.sshOpenssh, `${f.sshOpenssh}.pub`, f.sshPem, f.opensslPkcs8]) {
    const result = await runCli(['fingerprint', path]);
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout, `${await sshFingerprint(path)}\n`);
  }
  const json = await runCli(['fingerprint', f.opensslSpki, '--json']);
  t.deepEqual(JSON.parse(json.stdout), {
    path: f.opensslSpki,
    fingerprint: await sshFingerprint(f.opensslPkcs8),
  });
});

test('fingerprint of an encrypted key needs --passphrase-file, except for OpenSSH keys', async (t) => {
  const locked = await runCli(['fingerprint', f.encryptedPkcs8Pem]);
  t.is(locked.code, 1);
  t.deepEqual(lines(locked.stderr), [
    `secsess-keygen: key file ${f.encryptedPkcs8Pem} is encrypted; a passphrase is needed to read it; ` +
      'pass the passphrase with --passphrase-file FILE [ERR_KEY_ENCRYPTED]',
  ]);
  const unlocked = await runCli(['fingerprint', f.encryptedPkcs8Pem, '--passphrase-file', passphraseFile]);
  t.is(unlocked.code, 0, unlocked.stderr);
  t.is(unlocked.stdout.trim(), await sshFingerprint(f.opensslPkcs8));
  const openssh = await runCli(['fingerprint', f.sshOpensshEncrypted]);
  t.is(openssh.code, 0, openssh.stderr);
  t.is(openssh.stdout.trim(), await sshFingerprint(`${f.sshOpensshEncrypted}.pub`));
});

test('convert decrypts a passphrase-protected OpenSSH key (ssh-keygen -N) into scrypt PKCS#8 openssl reads', async (t) => {
  const out = fresh('from-openssh.pem');
  const result = await runCli([
    'convert',
    f.sshOpensshEncrypted,
    '--to',
    'pem',
    '--passphrase-file',
    passphraseFile,
    '--new-passphrase-file',
    passphraseFile,
    '-o',
    out,
  ]);
  t.is(result.code, 0, result.stderr);
  const pem = await runTool('openssl', ['pkey', '-in', out, '-passin', `pass:${PASSPHRASE}`, '-pubout']);
  t.is(pem.code, 0, pem.stderr);
  const asn1 = await runTool('openssl', ['asn1parse', '-in', out]);
  t.regex(asn1.stdout, /OBJECT +:scrypt\n/);
  const fingerprint = await runCli(['fingerprint', out, '--passphrase-file', passphraseFile]);
  t.is(fingerprint.stdout.trim(), await sshFingerprint(`${f.sshOpensshEncrypted}.pub`));
});

test('a wrong passphrase is ERR_KEY_PASSPHRASE and is not echoed', async (t) => {
  const wrong = fresh('wrong.txt');
  await writeFile(wrong, 'definitely-wrong');
  const result = await runCli(['inspect', f.legacyEncryptedPem, '--passphrase-file', wrong]);
  t.is(result.code, 1);
  t.regex(result.stderr, /\[ERR_KEY_PASSPHRASE\]\n$/);
  t.true(result.stderr.includes(f.legacyEncryptedPem));
  t.false(result.stderr.includes('definitely-wrong'));
});

test('inspect describes a key file, as text and as JSON', async (t) => {
  const text = await runCli(['inspect', f.sshOpenssh]);
  t.is(text.code, 0, text.stderr);
  const fingerprint = await sshFingerprint(f.sshOpenssh);
  t.deepEqual(lines(text.stdout), [
    `file         ${f.sshOpenssh}`,
    'kind         private',
    'format       openssh',
    'encrypted    no',
    'bits         2048',
    `fingerprint  ${fingerprint}`,
  ]);
  const json = await runCli(['inspect', f.encryptedPkcs8Der, '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), {
    path: f.encryptedPkcs8Der,
    kind: 'private',
    format: 'pkcs8-der',
    encrypted: true,
    bits: null,
    fingerprint: null,
  });
  const unlocked = await runCli([
    'inspect',
    f.encryptedPkcs8Der,
    '--json',
    '--passphrase-file',
    passphraseFile,
  ]);
  t.like(JSON.parse(unlocked.stdout), {
    encrypted: true,
    bits: 2048,
    fingerprint: await sshFingerprint(f.opensslPkcs8),
  });
});

test('key errors are one line naming the file and what to do, exit 1', async (t) => {
  const cases: [string[], RegExp][] = [
    [['inspect', f.sshEd25519], /holds an ssh-ed25519 key; secsess needs an RSA key.* \[ERR_KEY_NOT_RSA\]$/],
    [
      ['fingerprint', f.rsa1024],
      /1024-bit RSA key; secsess needs at least 2048 bits.* \[ERR_KEY_TOO_SMALL\]$/,
    ],
    [
      ['convert', f.sshOpensshEncrypted, '--to', 'pem'],
      /is encrypted; a passphrase is needed.*--passphrase-file FILE \[ERR_KEY_ENCRYPTED\]$/,
    ],
    [['inspect', f.dir], /it is a directory.* \[ERR_KEY_FILE_UNREADABLE\]$/],
    [['inspect', passphraseFile], /not a key file we recognise.* \[ERR_KEY_FORMAT\]$/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(args);
    t.is(result.code, 1, args.join(' '));
    const errorLines = lines(result.stderr);
    t.is(errorLines.length, 1, result.stderr);
    t.regex(errorLines[0] ?? '', /^secsess-keygen: /);
    t.regex(errorLines[0] ?? '', pattern);
    t.true((errorLines[0] ?? '').includes(args[1] ?? '\0'), 'names the file');
  }
});

test('a group-readable private key is refused with the chmod to run', async (t) => {
  const loose = fresh('loose.key');
  await copyFile(f.opensslPkcs8, loose);
  await chmod(loose, 0o640);
  const result = await runCli(['fingerprint', loose]);
  t.is(result.code, 1);
  t.deepEqual(lines(result.stderr), [
    `secsess-keygen: private key file ${loose} is accessible by group or others (mode 0640); ` +
      `run \`chmod 600 ${loose}\` [ERR_KEY_PERMISSIONS]`,
  ]);
});

test('convert an OpenSSH private key to PKCS#8 PEM that openssl accepts', async (t) => {
  const out = fresh('server.key');
  const result = await runCli(['convert', f.sshOpenssh, '--to', 'pem', '-o', out]);
  t.is(result.code, 0, result.stderr);
  t.is((await stat(out)).mode & 0o777, 0o600);
  const check = await runTool('openssl', ['pkey', '-check', '-noout', '-in', out]);
  t.is(check.code, 0, check.stderr);
  t.is(await sshFingerprint(out), await sshFingerprint(f.sshOpenssh));
  t.regex(result.stdout, /wrote .* \(private key, pem\)/);
});

test('convert --public --to openssh prints the ssh-rsa line on stdout', async (t) => {
  const result = await runCli(['convert', f.opensslPkcs8, '--to', 'openssh', '--public', '-C', 'from-pem']);
  t.is(result.code, 0, result.stderr);
  const pub = fresh('derived.pub');
  await writeFile(pub, result.stdout);
  t.regex(result.stdout, /^ssh-rsa AAAA\S+ from-pem\n$/);
  t.is(await sshFingerprint(pub), await sshFingerprint(f.opensslPkcs8));
});

test('convert to every format and back keeps the key', async (t) => {
  const expected = await sshFingerprint(f.opensslPkcs8);
  for (const to of ['pem', 'pkcs1', 'openssh', 'der', 'jwk']) {
    for (const input of [f.opensslPkcs8, f.opensslSpki]) {
      const out = fresh(`conv.${to}`);
      const result = await runCli(['convert', input, '--to', to, '-o', out]);
      t.is(result.code, 0, result.stderr);
      const back = await runCli(['fingerprint', out]);
      t.is(back.stdout.trim(), expected, `${input} → ${to}`);
      t.is((await stat(out)).mode & 0o777, input === f.opensslSpki ? 0o644 : 0o600);
    }
  }
});

test('convert --to jwk without -o prints JSON; --json wraps the key in the document', async (t) => {
  const plain = await runCli(['convert', f.opensslSpki, '--to', 'jwk']);
  t.is(plain.code, 0, plain.stderr);
  t.like(JSON.parse(plain.stdout), { kty: 'RSA', e: 'AQAB' });
  const json = await runCli(['convert', f.opensslSpki, '--to', 'der', '--json']);
  t.is(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as Record<string, unknown>;
  t.like(doc, { input: f.opensslSpki, output: null, kind: 'public', format: 'der' });
  t.deepEqual(Buffer.from(String(doc['key']), 'base64'), await readFile(f.spkiDer));
});

test('convert --new-passphrase-file encrypts the output; public input refuses it', async (t) => {
  const out = fresh('locked.pem');
  const result = await runCli([
    'convert',
    f.sshPem,
    '--to',
    'pem',
    '-o',
    out,
    '--new-passphrase-file',
    passphraseFile,
  ]);
  t.is(result.code, 0, result.stderr);
  const check = await runTool('openssl', [
    'pkey',
    '-check',
    '-noout',
    '-in',
    out,
    '-passin',
    `pass:${PASSPHRASE}`,
  ]);
  t.is(check.code, 0, check.stderr);
  const refused = await runCli([
    'convert',
    f.opensslSpki,
    '--to',
    'pem',
    '--new-passphrase-file',
    passphraseFile,
  ]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /holds a public key, which is never encrypted \[ERR_USAGE\]/);
});

test('convert refuses to overwrite without --force', async (t) => {
  const out = fresh('exists.pem');
  await writeFile(out, 'keep');
  const result = await runCli(['convert', f.opensslSpki, '--to', 'pem', '-o', out]);
  t.is(result.code, 1);
  t.deepEqual(lines(result.stderr), [
    `secsess-keygen: ${out} already exists; pass --force to overwrite it [ERR_KEY_FILE_EXISTS]`,
  ]);
  t.is(await readFile(out, 'utf8'), 'keep');
  const forced = await runCli(['convert', f.opensslSpki, '--to', 'pem', '-o', out, '--force']);
  t.is(forced.code, 0, forced.stderr);
  t.is(await readFile(out, 'utf8'), await readFile(f.opensslSpki, 'utf8'));
});
