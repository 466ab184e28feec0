import { appendFile, chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AuthorizedKeys, PrivateKey } from '@secsess/keys';
import { sshFingerprint, sshKeygen } from '../../keys/test/helpers/tools.js';
import { assertBuilt, lines, runCli } from './helpers/cli.js';

let home!: string;
/** ssh-keygen -t rsa -b 2048 (OpenSSH format) and ssh-keygen -t ed25519, with their .pub files. */
let sshRsa!: string;
let sshEd25519!: string;
test.before(async () => {
  assertBuilt();
  home = await mkdtemp(join(tmpdir(), 'secsess-cli-authorize-'));
  process.env['SECSESS_HOME'] = join(home, 'secsess-home');
  sshRsa = join(home, 'id_rsa');
  sshEd25519 = join(home, 'id_ed25519');
  await Promise.all([
    sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'alice@laptop', '-f', sshRsa),
    sshKeygen('-q', '-t', 'ed25519', '-N', '', '-C', 'bob@phone', '-f', sshEd25519),
  ]);
});
test.after.always(async () => {
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

let counter = 0;
const fresh = (): string => join(home, `case-${counter++}`, 'authorized_keys');

test('interop: an ssh-keygen RSA key added with authorize add is found for the key loaded from the private file', async (t) => {
  const file = fresh();
  const result = await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file, '-C', 'alice']);
  t.is(result.code, 0, result.stderr);
  const fingerprint = await sshFingerprint(`${sshRsa}.pub`);
  t.is(result.stdout, `authorized ${fingerprint} (RSA 2048) in ${file} (line 1)\n`);
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.is((await stat(join(file, '..'))).mode & 0o777, 0o700);
  const [type, base64] = (await readFile(`${sshRsa}.pub`, 'utf8')).split(' ');
  t.is(await readFile(file, 'utf8'), `${type} ${base64} alice\n`);
  const authorized = await AuthorizedKeys.load(file);
  const privateKey = await PrivateKey.load(sshRsa);
  t.true(authorized.has(privateKey.publicKey));
  t.like(authorized.find(privateKey.publicKey), { line: 1, comment: 'alice', fingerprint });
});

test('authorize add of a key already there (even given as the private key file) changes nothing', async (t) => {
  const file = fresh();
  await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file]);
  const again = await runCli(['authorize', 'add', sshRsa, '--file', file, '--json']);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(JSON.parse(again.stdout), {
    file,
    keys: [{ fingerprint: await sshFingerprint(sshRsa), bits: 2048, comment: '', line: 1, added: false }],
    skipped: [],
  });
  t.is(lines(await readFile(file, 'utf8')).length, 1);
});

test('interop: an ssh-keygen Ed25519 line is skipped and reported; authorize add refuses it', async (t) => {
  const file = fresh();
  await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file]);
  await appendFile(file, await readFile(`${sshEd25519}.pub`, 'utf8'));
  const text = await runCli(['authorize', 'list', '--file', file]);
  t.is(text.code, 0, text.stderr);
  t.deepEqual(lines(text.stdout), [`${await sshFingerprint(sshRsa)}  RSA 2048  line 1  alice@laptop`]);
  t.deepEqual(lines(text.stderr), [
    `warning: ${file} line 2 skipped: ssh-ed25519 key: secsess accepts only RSA keys`,
  ]);
  const json = await runCli(['authorize', 'list', '--file', file, '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), {
    file,
    keys: [{ fingerprint: await sshFingerprint(sshRsa), bits: 2048, comment: 'alice@laptop', line: 1 }],
    skipped: [
      {
        line: 2,
        reason: 'ssh-ed25519 key: secsess accepts only RSA keys',
        fingerprint: await sshFingerprint(`${sshEd25519}.pub`),
      },
    ],
  });
  const refused = await runCli(['authorize', 'add', `${sshEd25519}.pub`, '--file', file]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /ssh-ed25519 key; secsess needs an RSA key.* \[ERR_KEY_NOT_RSA\]\n$/);
  t.is(lines(await readFile(file, 'utf8')).length, 2);
});

test('authorize list reports lines with options as skipped, with the key fingerprint', async (t) => {
  const file = fresh();
  await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file]);
  await writeFile(file, `from="10.0.0.0/8",no-pty ${await readFile(`${sshRsa}.pub`, 'utf8')}`);
  const json = await runCli(['authorize', 'list', '--file', file, '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), {
    file,
    keys: [],
    skipped: [
      {
        line: 1,
        reason: 'options (from, no-pty) are not supported by secsess; the key was not authorized',
        fingerprint: await sshFingerprint(sshRsa),
      },
    ],
  });
  t.true(json.stderr.includes(`no authorized keys in ${file}`));
});

test('without --file the file is $SECSESS_HOME/authorized_keys', async (t) => {
  const result = await runCli(['authorize', 'add', `${sshRsa}.pub`, '--json']);
  t.is(result.code, 0, result.stderr);
  const file = join(home, 'secsess-home', 'authorized_keys');
  t.like(JSON.parse(result.stdout), { file, keys: [{ line: 1, added: true }] });
  const listed = await runCli(['authorize', 'list']);
  t.is(listed.code, 0, listed.stderr);
  t.true(listed.stdout.startsWith(await sshFingerprint(sshRsa)));
});

test('authorize list: a missing file is empty (exit 0, as trust list), a group-writable one ERR_KEY_PERMISSIONS', async (t) => {
  const missing = fresh();
  const result = await runCli(['authorize', 'list', '--file', missing]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '');
  t.deepEqual(lines(result.stderr), [`no authorized keys in ${missing}`]);
  const json = await runCli(['authorize', 'list', '--file', missing, '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), { file: missing, keys: [], skipped: [] });
  await t.throwsAsync(stat(missing), { code: 'ENOENT' });
  const file = fresh();
  await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file]);
  await chmod(file, 0o664);
  const loose = await runCli(['authorize', 'list', '--file', file]);
  t.is(loose.code, 1);
  t.regex(loose.stderr, new RegExp(`run \`chmod 600 ${file}\` \\[ERR_KEY_PERMISSIONS\\]\\n$`));
});

test('authorize needs a subcommand; add needs a key file (exit 2)', async (t) => {
  for (const args of [['authorize'], ['authorize', 'add'], ['authorize', 'remove'], ['authorize', 'frob']]) {
    const result = await runCli(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /\[ERR_USAGE\]/);
  }
});

test('authorize add keeps the comment of each line and adds every key of a file (or of standard input), reporting each', async (t) => {
  const file = fresh();
  const second = join(home, 'second');
  await sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'carol@desk', '-f', second);
  const many = join(home, 'many.pub');
  const ed25519 = await readFile(`${sshEd25519}.pub`, 'utf8');
  await writeFile(
    many,
    `${await readFile(`${sshRsa}.pub`, 'utf8')}${ed25519}${await readFile(`${second}.pub`, 'utf8')}`,
  );
  const [alice, carol] = [await sshFingerprint(sshRsa), await sshFingerprint(second)];
  const result = await runCli(['authorize', 'add', many, '--file', file]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(lines(result.stdout), [
    `authorized ${alice} (RSA 2048) in ${file} (line 1)`,
    `authorized ${carol} (RSA 2048) in ${file} (line 2)`,
  ]);
  t.deepEqual(lines(result.stderr), [
    `warning: ${many} line 2 skipped: ssh-ed25519 key: secsess accepts only RSA keys`,
  ]);
  const stored = lines(await readFile(file, 'utf8'));
  t.regex(stored[0] ?? '', / alice@laptop$/);
  t.regex(stored[1] ?? '', / carol@desk$/);
  t.is(stored.length, 2);
  // From standard input, as `ssh-add -L | secsess-keygen authorize add -`: already there, nothing changes.
  const piped = await runCli(['authorize', 'add', '-', '--file', file, '--json'], {
    input: await readFile(many),
  });
  t.is(piped.code, 0, piped.stderr);
  t.deepEqual(JSON.parse(piped.stdout), {
    file,
    keys: [
      { fingerprint: alice, bits: 2048, comment: 'alice@laptop', line: 1, added: false },
      { fingerprint: carol, bits: 2048, comment: 'carol@desk', line: 2, added: false },
    ],
    skipped: [
      {
        line: 2,
        reason: 'ssh-ed25519 key: secsess accepts only RSA keys',
        fingerprint: await sshFingerprint(`${sshEd25519}.pub`),
      },
    ],
  });
  t.is(lines(await readFile(file, 'utf8')).length, 2);
});

test('authorize remove takes a fingerprint or a key file; a key not there removes nothing (exit 0)', async (t) => {
  const file = fresh();
  const second = join(home, 'second-remove');
  await sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'dave', '-f', second);
  await runCli(['authorize', 'add', `${sshRsa}.pub`, '--file', file]);
  await runCli(['authorize', 'add', `${second}.pub`, '--file', file]);
  const alice = await sshFingerprint(sshRsa);
  const byFingerprint = await runCli(['authorize', 'remove', alice, '--file', file]);
  t.is(byFingerprint.code, 0, byFingerprint.stderr);
  t.is(byFingerprint.stdout, `removed ${alice} from ${file} (1 line)\n`);
  t.deepEqual(lines(await readFile(file, 'utf8')), [(await readFile(`${second}.pub`, 'utf8')).trim()]);
  const again = await runCli(['authorize', 'remove', alice, '--file', file, '--json']);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(JSON.parse(again.stdout), { file, keys: [{ fingerprint: alice, removed: 0 }] });
  const byFile = await runCli(['authorize', 'remove', second, '--file', file]);
  t.is(byFile.code, 0, byFile.stderr);
  t.is(byFile.stdout, `removed ${await sshFingerprint(second)} from ${file} (1 line)\n`);
  t.is(await readFile(file, 'utf8'), '');
  const listed = await runCli(['authorize', 'list', '--file', file]);
  t.is(listed.code, 0);
  t.deepEqual(lines(listed.stderr), [`no authorized keys in ${file}`]);
});
