/**
 * Issue 13 items a new user tripped over: `-` for standard input, the hint for a private
 * key given where a public one is expected (a command that must work), `convert` never
 * dropping a passphrase silently, and usage errors in the user's words.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { KeyError, PrivateKey, PublicKey } from '@secsess/keys';
import { makeFixtures, PASSPHRASE } from '../../keys/test/helpers/fixtures.js';
import type { Fixtures } from '../../keys/test/helpers/fixtures.js';
import { sshFingerprint } from '../../keys/test/helpers/tools.js';
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
const fresh = (name: string): string => join(f.dir, `stdin-${counter++}-${name}`);

test('fingerprint - and inspect - read the key from standard input', async (t) => {
  const expected = await sshFingerprint(f.opensslPkcs8);
  for (const path of [f.opensslSpki, f.opensslPkcs1Public, f.opensslPkcs8]) {
    const result = await runCli(['fingerprint', '-'], { input: await readFile(path) });
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout, `${expected}\n`);
  }
  const inspected = await runCli(['inspect', '-', '--json'], { input: await readFile(f.opensslSpki) });
  t.is(inspected.code, 0, inspected.stderr);
  t.like(JSON.parse(inspected.stdout), { path: '-', kind: 'public', bits: 2048, fingerprint: expected });
  const empty = await runCli(['fingerprint', '-'], { input: '' });
  t.is(empty.code, 1);
  t.regex(empty.stderr, /\[ERR_KEY_FORMAT\]\n$/);
});

test('the hint for a private key where a public one is expected is a command that works', async (t) => {
  const error = await t.throwsAsync(PublicKey.load(f.opensslPkcs8), { instanceOf: KeyError });
  const hinted = /`secsess-keygen ([^`]+)`/.exec(error?.message ?? '');
  t.truthy(hinted, error?.message);
  t.is(hinted?.[1], `convert ${f.opensslPkcs8} --public`);
  const result = await runCli(hinted?.[1]?.split(' ') ?? []);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^ssh-rsa AAAA\S+\n$/);
  t.is(PublicKey.fromString(result.stdout).fingerprint(), await sshFingerprint(f.opensslPkcs8));
});

test('convert of an encrypted key refuses to write it in clear unless --unencrypted (or a new passphrase)', async (t) => {
  for (const [input, to, publicFile] of [
    [f.encryptedPkcs8Pem, 'pem', f.opensslPkcs8],
    [f.sshOpensshEncrypted, 'openssh', `${f.sshOpensshEncrypted}.pub`],
  ] as const) {
    const out = fresh(`clear.${to}`);
    const args = ['convert', input, '--to', to, '--passphrase-file', passphraseFile, '-o', out];
    const refused = await runCli(args);
    t.is(refused.code, 2, refused.stderr);
    t.regex(
      lines(refused.stderr)[0] ?? '',
      new RegExp(
        `^secsess-keygen: ${input} is encrypted, and --to ${to} would write the private key without a passphrase: .*--unencrypted.* \\[ERR_USAGE\\]$`,
      ),
    );
    t.is(lines(refused.stderr)[1], 'see: secsess-keygen convert --help');
    await t.throwsAsync(stat(out), { code: 'ENOENT' }, 'nothing written');
    const allowed = await runCli([...args, '--unencrypted']);
    t.is(allowed.code, 0, allowed.stderr);
    // Loads without a passphrase: written in clear, as asked.
    t.is((await PrivateKey.load(out)).fingerprint(), await sshFingerprint(publicFile));
  }
  // Re-encrypting keeps it protected: no flag needed; the public half never needs one.
  const locked = await runCli([
    'convert',
    f.encryptedPkcs8Pem,
    '--to',
    'pem',
    '--passphrase-file',
    passphraseFile,
    '--new-passphrase-file',
    passphraseFile,
    '-o',
    fresh('locked.pem'),
  ]);
  t.is(locked.code, 0, locked.stderr);
  const pub = await runCli(['convert', f.encryptedPkcs8Pem, '--public', '--passphrase-file', passphraseFile]);
  t.is(pub.code, 0, pub.stderr);
  t.regex(pub.stdout, /^ssh-rsa /);
  const both = await runCli([
    'convert',
    f.encryptedPkcs8Pem,
    '--to',
    'pem',
    '--unencrypted',
    '--new-passphrase-file',
    passphraseFile,
  ]);
  t.is(both.code, 2);
  t.regex(both.stderr, /contradict/);
});

test('usage errors say what is missing in words and point at the subcommand help', async (t) => {
  const cases: [string[], string, string][] = [
    [['convert'], 'missing KEY_FILE: the key to convert (a file, or - for standard input)', 'convert'],
    [
      ['convert', 'a.key'],
      'missing --to FORMAT: the format to write (pem, pkcs1, openssh, der or jwk; --public alone writes openssh)',
      'convert',
    ],
    [['trust', 'add', 'h.example:1'], "missing KEY_FILE: the server's public key", 'trust add'],
    [
      ['authorize', 'remove'],
      'missing KEY: the SHA256:… fingerprint or the key file of the key to remove',
      'authorize remove',
    ],
    [['fingerprint', 'a', '--bogus'], 'unknown option --bogus', 'fingerprint'],
    [['-b', '1024'], '--bits 1024 is not one of 2048, 3072, 4096', ''],
  ];
  for (const [args, message, command] of cases) {
    const result = await runCli(args);
    t.is(result.code, 2, args.join(' '));
    t.deepEqual(lines(result.stderr), [
      `secsess-keygen: ${message} [ERR_USAGE]`,
      `see: secsess-keygen${command === '' ? '' : ` ${command}`} --help`,
    ]);
  }
});

test('help is wrapped at 80 columns, each example a whole command line under its # description', async (t) => {
  const commands = [[], ['convert'], ['authorize', 'add'], ['trust', 'add'], ['generate'], ['probe']];
  for (const command of commands) {
    const result = await runCli([...command, '--help']);
    t.is(result.code, 0);
    const all = result.stdout.split('\n');
    t.deepEqual(
      all.filter((line) => line.length > 80),
      [],
      command.join(' '),
    );
    const start = all.indexOf('Examples:');
    t.true(start > 0, command.join(' '));
    const end = all.indexOf('', start);
    const examples = all.slice(start + 1, end).map((line) => line.trim());
    // `# what it does` lines, each group followed by exactly one command line.
    examples.forEach((line, index) => {
      if (!line.startsWith('#'))
        t.true(examples[index - 1]?.startsWith('#'), `${command.join(' ')}: ${line}`);
    });
    t.false(examples.at(-1)?.startsWith('#'));
  }
  const top = (await runCli(['--help'])).stdout;
  t.true(
    top.includes(
      '\n  # write secrets/server.key and secrets/server.pub\n  secsess-keygen generate -b 4096 -o secrets/server\n',
    ),
  );
});

test('trust add HOST:PORT - reads the server key from standard input', async (t) => {
  const knownHosts = fresh('known_hosts');
  const result = await runCli(['trust', 'add', 'piped.example:7000', '-', '--known-hosts', knownHosts], {
    input: await readFile(f.opensslSpki),
  });
  t.is(result.code, 0, result.stderr);
  const fingerprint = await sshFingerprint(f.opensslPkcs8);
  t.is(result.stdout, `trusted ${fingerprint} for piped.example:7000 (line 1 of ${knownHosts})\n`);
});
