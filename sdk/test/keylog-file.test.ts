/**
 * The key log file itself (`SECSESS_KEYLOG_FILE`, SECURITY.md "The key log"), in this
 * process: a path is opened once, with O_NOFOLLOW, and refused (one SECSESS_KEYLOG_UNSAFE
 * warning, no writer, nothing written anywhere) unless it is a regular file of this user
 * that group and others cannot read: what another local user plants at a shared path
 * (`/tmp/…`: a symlink, a readable file, a FIFO, a file of their own) gets no secret.
 * Serial: the variable is this process's.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KEYLOG_ENV, keyLogFromEnv, unsafeKeyLog } from '../src/observe/keylog.js';

const RANDOM = Buffer.alloc(32, 0xab);
const SECRET = Buffer.alloc(32, 0xcd);
const LINE = `SECSESS_DGRAM_C2S_SECRET_0 ${RANDOM.toString('hex')} ${SECRET.toString('hex')}\n`;

/** The SecsessWarnings this process emits, by code. */
const warnings: { code: string; message: string }[] = [];
process.on('warning', (w: Error & { code?: string }) => {
  if (w.name === 'SecsessWarning') warnings.push({ code: w.code ?? '', message: w.message });
});

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-keylog-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Sets the variable to `path`, asks for a key log twice (as two sessions would) and logs a
 * line with each writer given; returns how many writers there were and the warnings said.
 */
async function logTwice(path: string): Promise<{ writers: number; said: typeof warnings }> {
  const before = warnings.length;
  process.env[KEYLOG_ENV] = path;
  let writers = 0;
  try {
    for (let i = 0; i < 2; i++) {
      const keyLog = keyLogFromEnv();
      if (keyLog === undefined) continue;
      writers++;
      keyLog('SECSESS_DGRAM_C2S_SECRET_0', RANDOM, SECRET);
    }
  } finally {
    delete process.env[KEYLOG_ENV];
  }
  // emitWarning emits on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  return { writers, said: warnings.slice(before) };
}

function assertRefused(
  t: ExecutionContext,
  run: { writers: number; said: typeof warnings },
  why: RegExp,
): void {
  t.is(run.writers, 0, 'no writer: nothing is logged');
  t.is(run.said.length, 1, 'one warning for the path');
  t.is(run.said[0]?.code, 'SECSESS_KEYLOG_UNSAFE');
  t.regex(run.said[0]?.message ?? '', why);
  t.regex(run.said[0]?.message ?? '', /not writing session secrets to .*; sessions go on unlogged$/);
}

test.serial('a new file is created 0600 and gets every line, one warning for the path', async (t) => {
  const path = join(await tempDir(t), 'keys.log');
  const run = await logTwice(path);
  t.is(run.writers, 2);
  t.deepEqual(
    run.said.map((w) => w.code),
    ['SECSESS_KEYLOG'],
  );
  t.is(statSync(path).mode & 0o777, 0o600);
  t.is(readFileSync(path, 'utf8'), LINE + LINE);
  // The same path later: the same open file, no second warning.
  const again = await logTwice(path);
  t.is(again.writers, 2);
  t.deepEqual(again.said, []);
  t.is(readFileSync(path, 'utf8'), LINE.repeat(4));
});

test.serial('another path named later gets its own file', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = [join(dir, 'a.log'), join(dir, 'b.log')];
  t.is((await logTwice(a)).writers, 2);
  const run = await logTwice(b);
  t.is(run.writers, 2);
  t.deepEqual(
    run.said.map((w) => w.code),
    ['SECSESS_KEYLOG'],
  );
  t.is(readFileSync(a, 'utf8'), LINE + LINE);
  t.is(readFileSync(b, 'utf8'), LINE + LINE);
});

test.serial('an existing 0600 file of this user is appended to', async (t) => {
  const path = join(await tempDir(t), 'keys.log');
  writeFileSync(path, '# earlier\n', { mode: 0o600 });
  t.is((await logTwice(path)).writers, 2);
  t.is(readFileSync(path, 'utf8'), `# earlier\n${LINE}${LINE}`);
  t.is(statSync(path).mode & 0o777, 0o600);
});

for (const mode of [0o644, 0o640, 0o666, 0o604]) {
  test.serial(
    `an existing file others may read (${mode.toString(8)}) is refused and left alone`,
    async (t) => {
      const path = join(await tempDir(t), 'keys.log');
      writeFileSync(path, '# earlier\n');
      chmodSync(path, mode);
      assertRefused(t, await logTwice(path), new RegExp(`mode 0${mode.toString(8)} lets group or others`));
      t.is(readFileSync(path, 'utf8'), '# earlier\n');
      t.is(statSync(path).mode & 0o777, mode);
    },
  );
}

test.serial('a symlink is refused: nothing is written to its target', async (t) => {
  const dir = await tempDir(t);
  // The target: a file its planter can read (theirs), then one that does not exist yet.
  const target = join(dir, 'planted.txt');
  writeFileSync(target, 'planted\n', { mode: 0o600 });
  const link = join(dir, 'keys.log');
  symlinkSync(target, link);
  assertRefused(t, await logTwice(link), /it is a symbolic link/);
  t.is(readFileSync(target, 'utf8'), 'planted\n');
  const dangling = join(dir, 'keys2.log');
  const absent = join(dir, 'to-be-created.txt');
  symlinkSync(absent, dangling);
  assertRefused(t, await logTwice(dangling), /it is a symbolic link/);
  t.false(existsSync(absent), 'the dangling link’s target is not created');
  t.true(lstatSync(dangling).isSymbolicLink());
});

test.serial('a hard link to a file of ours is refused: nothing is appended to that file', async (t) => {
  const dir = await tempDir(t);
  const own = join(dir, 'authorized_keys');
  writeFileSync(own, 'ssh-rsa AAAA\n', { mode: 0o600 });
  const link = join(dir, 'keys.log');
  linkSync(own, link);
  assertRefused(t, await logTwice(link), /it has 2 names/);
  t.is(readFileSync(own, 'utf8'), 'ssh-rsa AAAA\n');
});

test.serial('a FIFO is refused at once (no blocking open, no reader gets a line)', async (t) => {
  const path = join(await tempDir(t), 'keys.log');
  execFileSync('mkfifo', ['-m', '600', path]);
  assertRefused(t, await logTwice(path), /it is not a regular file/);
});

test.serial('a file owned by another user is refused', async (t) => {
  // The decision itself, for any user this test runs as…
  const path = join(await tempDir(t), 'keys.log');
  writeFileSync(path, '', { mode: 0o600 });
  const stats = statSync(path);
  t.is(unsafeKeyLog(stats, stats.uid), undefined);
  t.regex(unsafeKeyLog(stats, stats.uid + 1) ?? '', /owned by uid \d+, not by this process/);
  t.is(unsafeKeyLog(stats, undefined), undefined, 'no geteuid (Windows): type only');
  // …and the file of another user for real when this test may make one.
  if (process.geteuid?.() !== 0) {
    t.log('not root: no file of another user to plant');
    return;
  }
  chownSync(path, 65534, 65534);
  assertRefused(t, await logTwice(path), /owned by uid 65534, not by this process \(uid 0\)/);
  t.is(readFileSync(path, 'utf8'), '');
});

test.serial('a path that cannot be opened warns once (SECSESS_KEYLOG_FAILED)', async (t) => {
  const path = join(await tempDir(t), 'missing-dir', 'keys.log');
  const run = await logTwice(path);
  t.is(run.writers, 0);
  t.deepEqual(
    run.said.map((w) => w.code),
    ['SECSESS_KEYLOG_FAILED'],
  );
  t.regex(run.said[0]!.message, /ENOENT/);
});
