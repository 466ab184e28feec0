import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import {
  makeTempDir,
  runTool,
  sshFingerprint,
  sshFingerprintOfPemPublic,
  sshKeygen,
} from '../../keys/test/helpers/tools.js';
import { assertBuilt, BIN, lines, runCli } from './helpers/cli.js';

let dir!: string;
let cleanup!: () => Promise<void>;
test.before(async () => {
  assertBuilt();
  ({ dir, cleanup } = await makeTempDir('secsess-cli-'));
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);
const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

test('generates <out>.key (0600) and <out>.pub (0644) in a new 0700 directory, valid for openssl and ssh-keygen', async (t) => {
  const parent = fresh('keys');
  const out = join(parent, 'server');
  const result = await runCli(['-b', '2048', '-o', out]);
  t.is(result.code, 0, result.stderr);
  t.is(await modeOf(`${out}.key`), 0o600);
  t.is(await modeOf(`${out}.pub`), 0o644);
  t.is(await modeOf(parent), 0o700);
  t.true((await readFile(`${out}.key`, 'utf8')).startsWith('-----BEGIN PRIVATE KEY-----'));
  t.true((await readFile(`${out}.pub`, 'utf8')).startsWith('-----BEGIN PUBLIC KEY-----'));
  const check = await runTool('openssl', ['pkey', '-check', '-noout', '-in', `${out}.key`]);
  t.is(check.code, 0, check.stderr);
  t.regex(check.stdout, /Key is valid/);
  const bits = await runTool('openssl', ['pkey', '-pubin', '-in', `${out}.pub`, '-noout', '-text']);
  t.regex(bits.stdout, /2048 bit/);
  const expected = await sshFingerprint(`${out}.key`);
  t.is(await sshFingerprintOfPemPublic(`${out}.pub`), expected);
  t.true(result.stdout.includes(`${out}.key`));
  t.true(result.stdout.includes(`${out}.pub`));
  t.true(result.stdout.includes(expected));
  t.is(result.stderr, '', 'nothing on stderr when it is not a terminal');
});

test('--format openssh writes files ssh-keygen reads, with the same fingerprint', async (t) => {
  const out = fresh('id_secsess');
  const result = await runCli(['-b', '2048', '-o', out, '--format', 'openssh', '-C', 'me@example', '--json']);
  t.is(result.code, 0, result.stderr);
  const doc = JSON.parse(result.stdout) as { fingerprint: string };
  t.is(await sshFingerprint(`${out}.pub`), doc.fingerprint);
  t.is(await sshFingerprint(`${out}.key`), doc.fingerprint);
  const pub = (await readFile(`${out}.pub`, 'utf8')).trim();
  t.regex(pub, /^ssh-rsa AAAA\S+ me@example$/);
  t.is(
    (await sshKeygen('-y', '-f', `${out}.key`)).trim().split(' ').slice(0, 2).join(' '),
    pub.split(' ').slice(0, 2).join(' '),
  );
  // openssl cannot read OpenSSH containers; have ssh-keygen convert a copy, then check it.
  const copy = fresh('converted.key');
  await copyFile(`${out}.key`, copy);
  await sshKeygen('-p', '-N', '', '-m', 'PKCS8', '-f', copy);
  const check = await runTool('openssl', ['pkey', '-check', '-noout', '-in', copy]);
  t.is(check.code, 0, check.stderr);
});

test('--json prints exactly one JSON document on stdout', async (t) => {
  const out = fresh('json');
  const result = await runCli(['generate', '-b', '2048', '-o', out, '--json']);
  t.is(result.code, 0, result.stderr);
  const doc = JSON.parse(result.stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(doc).sort(), [
    'bits',
    'encrypted',
    'fingerprint',
    'format',
    'privateKey',
    'publicKey',
  ]);
  t.like(doc, {
    privateKey: `${out}.key`,
    publicKey: `${out}.pub`,
    bits: 2048,
    format: 'pem',
    encrypted: false,
  });
  t.is(doc['fingerprint'], await sshFingerprint(`${out}.key`));
  t.false(result.stderr.includes('\r'));
});

test('refuses to overwrite existing files without --force, and names them', async (t) => {
  const out = fresh('twice');
  t.is((await runCli(['-b', '2048', '-o', out])).code, 0);
  const before = await readFile(`${out}.key`);
  const again = await runCli(['-b', '2048', '-o', out]);
  t.is(again.code, 1);
  t.is(again.stdout, '');
  t.deepEqual(lines(again.stderr), [
    `secsess-keygen: ${out}.key already exists; pass --force to overwrite it [ERR_KEY_FILE_EXISTS]`,
  ]);
  t.deepEqual(await readFile(`${out}.key`), before);
  const forced = await runCli(['-b', '2048', '-o', out, '--force']);
  t.is(forced.code, 0, forced.stderr);
  t.notDeepEqual(await readFile(`${out}.key`), before);
  t.is(await modeOf(`${out}.key`), 0o600);
});

test('refuses when only the .pub exists, and writes neither file', async (t) => {
  const out = fresh('halfway');
  await writeFile(`${out}.pub`, 'old');
  const result = await runCli(['-b', '2048', '-o', out, '--json']);
  t.is(result.code, 1);
  t.deepEqual(JSON.parse(result.stdout), {
    error: {
      code: 'ERR_KEY_FILE_EXISTS',
      message: `${out}.pub already exists; pass --force to overwrite it`,
    },
  });
  t.false(existsSync(`${out}.key`));
});

test('--passphrase-file writes an encrypted PKCS#8 key', async (t) => {
  const out = fresh('enc');
  const pw = fresh('pw.txt');
  await writeFile(pw, 'pass phrase\n');
  const result = await runCli(['-b', '2048', '-o', out, '--passphrase-file', pw, '--json']);
  t.is(result.code, 0, result.stderr);
  t.like(JSON.parse(result.stdout), { encrypted: true });
  t.true((await readFile(`${out}.key`, 'utf8')).startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'));
  // The trailing newline of the file is not part of the passphrase.
  const check = await runTool('openssl', [
    'pkey',
    '-check',
    '-noout',
    '-in',
    `${out}.key`,
    '-passin',
    'pass:pass phrase',
  ]);
  t.is(check.code, 0, check.stderr);
  t.false(result.stderr.includes('pass phrase'));
});

test('a missing or empty passphrase file is a one-line error naming it', async (t) => {
  const missing = fresh('nope.txt');
  const result = await runCli(['-b', '2048', '-o', fresh('x'), '--passphrase-file', missing]);
  t.is(result.code, 1);
  t.deepEqual(lines(result.stderr), [
    `secsess-keygen: --passphrase-file ${missing} does not exist; check the path [ERR_PASSPHRASE_FILE]`,
  ]);
  const empty = fresh('empty.txt');
  await writeFile(empty, '\n');
  const second = await runCli(['-b', '2048', '-o', fresh('y'), '--passphrase-file', empty]);
  t.is(second.code, 1);
  t.regex(second.stderr, /is empty.*\[ERR_PASSPHRASE_FILE\]/);
});

test('usage errors exit 2 with a one-line message and a hint', async (t) => {
  for (const args of [
    ['-b', '1024'],
    ['--bogus'],
    ['--format', 'openssh', '--passphrase-file', 'pw'],
    ['frobnicate'],
  ]) {
    const result = await runCli(args, { cwd: dir });
    t.is(result.code, 2, args.join(' '));
    t.is(result.stdout, '');
    const [first, second, ...rest] = lines(result.stderr);
    t.regex(first ?? '', /^secsess-keygen: .+ \[ERR_USAGE\]$/);
    t.is(second, 'see: secsess-keygen --help');
    t.deepEqual(rest, []);
  }
});

test('usage errors with --json print a JSON error document', async (t) => {
  const result = await runCli(['-b', '1024', '--json'], { cwd: dir });
  t.is(result.code, 2);
  const doc = JSON.parse(result.stdout) as { error: { code: string; message: string } };
  t.is(doc.error.code, 'ERR_USAGE');
  t.is(doc.error.message, '--bits 1024 is not one of 2048, 3072, 4096');
});

test('--help and --version exit 0 on stdout', async (t) => {
  const help = await runCli(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Examples:/);
  t.is(help.stderr, '');
  const version = await runCli(['--version']);
  t.is(version.code, 0);
  t.regex(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('stack traces only with --verbose', async (t) => {
  const missing = fresh('missing.key');
  const plain = await runCli(['inspect', missing]);
  t.is(plain.code, 1);
  t.deepEqual(lines(plain.stderr), [
    `secsess-keygen: key file ${missing} does not exist; check the path [ERR_KEY_FILE_NOT_FOUND]`,
  ]);
  const verbose = await runCli(['inspect', missing, '--verbose']);
  t.is(verbose.code, 1);
  t.regex(verbose.stderr, /\n\s+at /);
});

test('the default output is ./secsess.key and ./secsess.pub', async (t) => {
  const cwd = fresh('cwd');
  await mkdir(cwd);
  const result = await runCli(['-b', '2048'], { cwd });
  t.is(result.code, 0, result.stderr);
  t.deepEqual((await readdir(cwd)).sort(), ['secsess.key', 'secsess.pub']);
});

/** Runs the CLI with a pseudo-terminal on stdin/stdout/stderr via util-linux `script`. */
function runInTerminal(args: string[]): Promise<{ code: number; output: string }> {
  const command = [process.execPath, BIN, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' }, (error, stdout) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : (error.code as number), output: stdout });
    });
  });
}

// util-linux `script` provides the pseudo-terminal; without it this case cannot be observed.
const hasScript = spawnSync('script', ['--version']).status === 0;
if (hasScript) {
  test('on a terminal, generation shows a ticking elapsed time that is erased afterwards', async (t) => {
    const out = fresh('tty');
    const { code, output } = await runInTerminal(['-b', '2048', '-o', out]);
    t.is(code, 0, output);
    t.regex(output, /\rgenerating 2048-bit RSA key… \d+\.\ds/);
    t.true(output.includes('\r\x1b[2K'), 'the progress line is cleared');
    t.true(output.includes(`${out}.key`));
    const quiet = await runInTerminal(['-b', '2048', '-o', fresh('tty-json'), '--json']);
    t.is(quiet.code, 0);
    t.false(quiet.output.includes('generating'));
  });
}

test('an --out below a regular file is ERR_OUTPUT, naming the directory', async (t) => {
  const file = fresh('plain-file');
  await writeFile(file, 'not a directory');
  const out = join(file, 'sub', 'server');
  const result = await runCli(['-b', '2048', '-o', out]);
  t.is(result.code, 1);
  t.deepEqual(lines(result.stderr), [
    `secsess-keygen: cannot create directory ${join(file, 'sub')} for the key files (ENOTDIR); check the --out path [ERR_OUTPUT]`,
  ]);
});

test("-o - is a usage error (key files need a path; '-' means standard input elsewhere), and writes nothing", async (t) => {
  const cwd = fresh('dash');
  await mkdir(cwd);
  const result = await runCli(['-b', '2048', '-o', '-'], { cwd });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /--out needs a path/);
  t.deepEqual(await readdir(cwd), []);
});
