import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { KeyPair, KnownHosts, verifyHostKey } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { assertBuilt, lines, runCli } from './helpers/cli.js';

// Children inherit this: no test can reach the real ~/.secsess.
let home!: string;
let server!: { key: string; pub: string; publicKey: PublicKey };
let other!: { pub: string; publicKey: PublicKey };
test.before(async () => {
  assertBuilt();
  home = await mkdtemp(join(tmpdir(), 'secsess-cli-trust-'));
  process.env['SECSESS_HOME'] = join(home, 'secsess-home');
  const [a, b] = await Promise.all([
    KeyPair.generateRSA({ bits: 2048 }),
    KeyPair.generateRSA({ bits: 2048 }),
  ]);
  await a.save(join(home, 'server'));
  await b.save(join(home, 'other'), { format: 'openssh' });
  server = { key: join(home, 'server.key'), pub: join(home, 'server.pub'), publicKey: a.publicKey };
  other = { pub: join(home, 'other.pub'), publicKey: b.publicKey };
});
test.after.always(async () => {
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

let counter = 0;
const fresh = (): string => join(home, `case-${counter++}`, 'known_hosts');

test('trust add records the key as "[host]:port ssh-rsa …" in a new 0600 file', async (t) => {
  const file = fresh();
  const result = await runCli([
    'trust',
    'add',
    'Server.Example:7000',
    server.pub,
    '--known-hosts',
    file,
    '-C',
    'prod',
  ]);
  t.is(result.code, 0, result.stderr);
  t.is(
    result.stdout,
    `trusted ${server.publicKey.fingerprint()} for server.example:7000 (line 1 of ${file})\n`,
  );
  t.is(result.stderr, '');
  t.is(await readFile(file, 'utf8'), `[server.example]:7000 ${server.publicKey.toOpenSSH()} prod\n`);
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.is((await stat(join(file, '..'))).mode & 0o777, 0o700);
  t.like(await verifyHostKey(file, 'server.example', 7000, server.publicKey, 'strict'), {
    learned: false,
    line: 1,
  });
});

test('trust add of the same key (also from the private key file) changes nothing', async (t) => {
  const file = fresh();
  t.is((await runCli(['trust', 'add', '[::1]:7000', server.pub, '--known-hosts', file])).code, 0);
  const again = await runCli(['trust', 'add', '[0:0::1]:7000', server.key, '--known-hosts', file, '--json']);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(JSON.parse(again.stdout), {
    host: '::1',
    port: 7000,
    fingerprint: server.publicKey.fingerprint(),
    file,
    line: 1,
    added: false,
  });
  t.is(await readFile(file, 'utf8'), `[::1]:7000 ${server.publicKey.toOpenSSH()}\n`);
});

test('trust add refuses a different key for a known server: exit 1, ERR_HOST_KEY_CHANGED', async (t) => {
  const file = fresh();
  await runCli(['trust', 'add', 'db.example:5000', server.pub, '--known-hosts', file]);
  const before = await readFile(file, 'utf8');
  const result = await runCli(['trust', 'add', 'db.example:5000', other.pub, '--known-hosts', file]);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  const [line, ...rest] = lines(result.stderr);
  t.deepEqual(rest, []);
  t.regex(line ?? '', /^secsess-keygen: .* \[ERR_HOST_KEY_CHANGED\]$/);
  for (const text of [
    other.publicKey.fingerprint(),
    server.publicKey.fingerprint(),
    `line 1 of ${file}`,
    `secsess-keygen trust remove db.example:5000 --known-hosts ${file}`,
  ]) {
    t.true(line?.includes(text), `mentions ${text}: ${line}`);
  }
  const json = await runCli(['trust', 'add', 'db.example:5000', other.pub, '--known-hosts', file, '--json']);
  t.is(json.code, 1);
  t.like(JSON.parse(json.stdout), { error: { code: 'ERR_HOST_KEY_CHANGED' } });
  t.is(await readFile(file, 'utf8'), before);
});

test('trust add --alongside records a rotated key next to the old one; both are trusted', async (t) => {
  const file = fresh();
  await runCli(['trust', 'add', 'rot.example:5000', server.pub, '--known-hosts', file]);
  const result = await runCli([
    'trust',
    'add',
    'rot.example:5000',
    other.pub,
    '--known-hosts',
    file,
    '--alongside',
  ]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `trusted ${other.publicKey.fingerprint()} for rot.example:5000 (line 2 of ${file})\n`);
  const knownHosts = await KnownHosts.open(file);
  t.is(knownHosts.check('rot.example', 5000, server.publicKey).status, 'match');
  t.is(knownHosts.check('rot.example', 5000, other.publicKey).status, 'match');
});

test('trust list prints host:port, fingerprint, line and comment; unusable lines go to stderr', async (t) => {
  const file = fresh();
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(
    file,
    [
      '# lab',
      `[a.example]:1 ${server.publicKey.toOpenSSH('first one')}`,
      'garbage',
      `[2001:db8::1]:7000 ${other.publicKey.toOpenSSH()}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const text = await runCli(['trust', 'list', '--known-hosts', file]);
  t.is(text.code, 0, text.stderr);
  t.deepEqual(lines(text.stdout), [
    `a.example:1         ${server.publicKey.fingerprint()}  line 2  first one`,
    `[2001:db8::1]:7000  ${other.publicKey.fingerprint()}  line 4`,
  ]);
  t.deepEqual(lines(text.stderr), [`warning: ${file} line 3: expected "[host]:port ssh-rsa <base64>"`]);
  const json = await runCli(['trust', 'list', '--known-hosts', file, '--json']);
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), {
    file,
    entries: [
      {
        host: 'a.example',
        port: 1,
        fingerprint: server.publicKey.fingerprint(),
        line: 2,
        comment: 'first one',
      },
      { host: '2001:db8::1', port: 7000, fingerprint: other.publicKey.fingerprint(), line: 4, comment: '' },
    ],
    problems: [{ line: 3, reason: 'expected "[host]:port ssh-rsa <base64>"' }],
  });
  t.is(lines(json.stderr).length, 1, 'warnings still on stderr in JSON mode');
});

test('trust list of a missing file is empty, with a note on stderr', async (t) => {
  const file = fresh();
  const result = await runCli(['trust', 'list', '--known-hosts', file]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '');
  t.deepEqual(lines(result.stderr), [`no trusted servers in ${file}`]);
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
});

test('trust remove deletes the lines of HOST:PORT and keeps the rest', async (t) => {
  const file = fresh();
  await runCli(['trust', 'add', 'keep.example:1', server.pub, '--known-hosts', file]);
  await runCli(['trust', 'add', 'gone.example:1', other.pub, '--known-hosts', file]);
  const removed = await runCli(['trust', 'remove', 'GONE.example:1', '--known-hosts', file]);
  t.is(removed.code, 0, removed.stderr);
  t.is(removed.stdout, `removed 1 line for gone.example:1 from ${file}\n`);
  t.is(await readFile(file, 'utf8'), `[keep.example]:1 ${server.publicKey.toOpenSSH()}\n`);
  const none = await runCli(['trust', 'remove', 'gone.example:1', '--known-hosts', file, '--json']);
  t.is(none.code, 0, none.stderr);
  t.deepEqual(JSON.parse(none.stdout), { host: 'gone.example', port: 1, file, removed: 0 });
  // After removal the new key can be trusted.
  t.is((await runCli(['trust', 'add', 'gone.example:1', server.pub, '--known-hosts', file])).code, 0);
});

test('without --known-hosts the file is $SECSESS_HOME/known_hosts', async (t) => {
  const result = await runCli(['trust', 'add', 'default.example:443', server.pub, '--json']);
  t.is(result.code, 0, result.stderr);
  const file = join(home, 'secsess-home', 'known_hosts');
  t.like(JSON.parse(result.stdout), { file, added: true });
  t.is((await KnownHosts.open(file)).check('default.example', 443, server.publicKey).status, 'match');
  const listed = await runCli(['trust', 'list']);
  t.true(listed.stdout.includes('default.example:443'));
});

test('bad HOST:PORT and missing arguments are usage errors (exit 2)', async (t) => {
  const file = fresh();
  const kh = ['--known-hosts', file];
  const cases: [string[], RegExp][] = [
    [['trust', 'add', 'host.example', server.pub, ...kh], /has no port/],
    [['trust', 'add', '::1:7000', server.pub, ...kh], /put IPv6 addresses in brackets/],
    [['trust', 'add', 'h:0', server.pub, ...kh], /port must be a number from 1 to 65535/],
    [['trust', 'add', 'h:65536', server.pub, ...kh], /port must be a number from 1 to 65535/],
    [['trust', 'add', 'a b:1', server.pub, ...kh], /is not a host name or address/],
    [['trust', 'add', 'h:1', ...kh], /missing KEY_FILE: the server's public key/],
    [['trust', 'remove', 'h', ...kh], /has no port/],
    [['trust'], /trust needs a subcommand: add, remove or list/],
    [['trust', 'list', 'extra', ...kh], /unexpected argument "extra"/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(args);
    t.is(result.code, 2, args.join(' '));
    t.regex(lines(result.stderr)[0] ?? '', pattern);
    t.regex(lines(result.stderr)[0] ?? '', /\[ERR_USAGE\]$/);
  }
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
});

test('a key file secsess cannot use is a key error (exit 1) and nothing is written', async (t) => {
  const file = fresh();
  const notAKey = join(home, 'not-a-key.txt');
  await writeFile(notAKey, 'hello\n');
  const result = await runCli(['trust', 'add', 'h.example:1', notAKey, '--known-hosts', file]);
  t.is(result.code, 1);
  t.regex(result.stderr, /\[ERR_KEY_FORMAT\]\n$/);
  await t.throwsAsync(stat(file), { code: 'ENOENT' });
});
