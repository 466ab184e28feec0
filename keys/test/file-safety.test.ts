import { constants } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { AuthorizedKeys, KeyErrorCode, KnownHosts, lockPathOf, withFileLock } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { expectKeyError } from './helpers/assert.js';
import { makeTempDir } from './helpers/tools.js';
import { rsaPublicKeys } from './helpers/trust.js';

/** uid of `nobody`, the "other user" of these tests (chown needs root). */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const rootOnly = isRoot ? test : test.skip;
const posixOnly = process.platform === 'win32' ? test.skip : test;

let dir!: string;
let cleanup: (() => Promise<void>) | undefined;
let a!: PublicKey;
let b!: PublicKey;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-file-safety-'));
  [a, b] = (await rsaPublicKeys(2)) as [PublicKey, PublicKey];
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
/** A fresh directory (0700) for one case. */
async function caseDir(mode = 0o700): Promise<string> {
  const path = join(dir, `case-${counter++}`);
  await mkdir(path);
  await chmod(path, mode);
  return path;
}

rootOnly('an authorized_keys file owned by another user is refused, naming the file', async (t) => {
  const path = join(await caseDir(), 'authorized_keys');
  await writeFile(path, `${a.toOpenSSH('planted')}\n`, { mode: 0o600 });
  await chown(path, NOBODY, NOBODY);
  await expectKeyError(t, AuthorizedKeys.load(path), KeyErrorCode.FILE_OWNER, {
    path,
    mentions: ['owned by uid 65534', `chown 0 ${path}`],
  });
  await expectKeyError(t, AuthorizedKeys.add(path, b), KeyErrorCode.FILE_OWNER, { path });
  t.is(await readFile(path, 'utf8'), `${a.toOpenSSH('planted')}\n`, 'nothing appended');
});

rootOnly(
  'the audit case: a planted authorized_keys of another user in a 0777 directory authorizes nothing',
  async (t) => {
    const open = await caseDir(0o777);
    const path = join(open, 'authorized_keys');
    await writeFile(path, `${a.toOpenSSH('planted')}\n`, { mode: 0o644 });
    await chown(path, NOBODY, NOBODY);
    const error = await t.throwsAsync(AuthorizedKeys.load(path));
    t.true(
      error?.message.includes(path) &&
        ['ERR_KEY_FILE_OWNER', 'ERR_KEY_PERMISSIONS'].includes(String((error as { code?: unknown }).code)),
      error?.message,
    );
    // Even with the file made ours, the directory anyone may write is refused.
    await chown(path, 0, 0);
    await expectKeyError(t, AuthorizedKeys.load(path), KeyErrorCode.PERMISSIONS, {
      path,
      mentions: [`directory ${open}`, 'mode 0777', `chmod go-w ${open}`],
    });
  },
);

rootOnly('a directory above the store owned by another user is refused, naming the directory', async (t) => {
  const theirs = await caseDir(0o755);
  await chown(theirs, NOBODY, NOBODY);
  const inner = join(theirs, 'secsess');
  await mkdir(inner, { mode: 0o700 });
  const path = join(inner, 'known_hosts');
  await writeFile(path, `[h.example]:1 ${a.toOpenSSH()}\n`, { mode: 0o600 });
  await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.FILE_OWNER, {
    path,
    mentions: [`directory ${theirs}`, 'owned by uid 65534'],
  });
  const fresh = join(inner, 'authorized_keys');
  await expectKeyError(t, AuthorizedKeys.add(fresh, a), KeyErrorCode.FILE_OWNER, { path: fresh });
  await t.throwsAsync(stat(fresh), { code: 'ENOENT' }, 'nothing created there');
  // allowInsecurePermissions is sshd's "StrictModes no": owners and modes are not judged.
  const allowed = await KnownHosts.open(path, { allowInsecurePermissions: true });
  t.is(allowed.check('h.example', 1, a).status, 'match');
});

posixOnly('a group-writable directory above the store is refused with the chmod to run', async (t) => {
  const shared = await caseDir(0o775);
  const path = join(shared, 'known_hosts');
  await writeFile(path, `[h.example]:1 ${a.toOpenSSH()}\n`, { mode: 0o600 });
  await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.PERMISSIONS, {
    path,
    mentions: [`directory ${shared}`, 'mode 0775', `chmod go-w ${shared}`],
  });
  // A TOFU write there is refused before anything is created (no lock file, no store).
  const other = join(shared, 'sub', 'known_hosts');
  const knownHosts = await KnownHosts.open(other, { allowInsecurePermissions: true });
  const strict = await KnownHosts.open(join(shared, 'never', 'known_hosts'));
  await expectKeyError(t, strict.verify('h.example', 1, a, 'tofu'), KeyErrorCode.PERMISSIONS);
  await t.throwsAsync(stat(join(shared, 'never', 'known_hosts')), { code: 'ENOENT' });
  await t.throwsAsync(stat(lockPathOf(join(shared, 'never', 'known_hosts'))), { code: 'ENOENT' });
  t.deepEqual(await knownHosts.add('h.example', 1, a), { added: true, line: 1 }, 'unless allowed');
});

posixOnly(
  'a sticky world-writable directory (like /tmp) is accepted; without the sticky bit it is not',
  async (t) => {
    const sticky = await caseDir(0o1777);
    const path = join(sticky, 'known_hosts');
    const knownHosts = await KnownHosts.open(path);
    t.deepEqual(await knownHosts.add('h.example', 1, a), { added: true, line: 1 });
    t.is((await KnownHosts.open(path)).check('h.example', 1, a).status, 'match');
    await chmod(sticky, 0o777);
    await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.PERMISSIONS, {
      mentions: [`chmod go-w ${sticky}`],
    });
  },
);

posixOnly(
  'the walk stops at the home directory, as sshd does: a loose directory above it is not judged',
  async (t) => {
    const loose = await caseDir(0o777);
    const home = join(loose, 'home');
    await mkdir(join(home, '.secsess'), { recursive: true, mode: 0o700 });
    await chmod(home, 0o700);
    const path = join(home, '.secsess', 'known_hosts');
    await writeFile(path, `[h.example]:1 ${a.toOpenSSH()}\n`, { mode: 0o600 });
    const saved = process.env['HOME'];
    try {
      process.env['HOME'] = home;
      t.is((await KnownHosts.open(path)).check('h.example', 1, a).status, 'match');
      await chmod(home, 0o770);
      await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.PERMISSIONS, {
        mentions: [`chmod go-w ${home}`],
      });
      await chmod(home, 0o700);
    } finally {
      process.env['HOME'] = saved;
    }
    await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.PERMISSIONS, {
      mentions: [`chmod go-w ${loose}`],
    });
  },
);

posixOnly(
  'a symlinked known_hosts is never read or written through: TOFU leaves the target alone',
  async (t) => {
    const here = await caseDir();
    const target = join(here, 'elsewhere');
    await writeFile(target, '# not a known_hosts file\n', { mode: 0o600 });
    const path = join(here, 'known_hosts');
    await symlink(target, path);
    await expectKeyError(t, KnownHosts.open(path), KeyErrorCode.FILE_SYMLINK, {
      path,
      mentions: ['symbolic link'],
    });
    // A link planted after open(): the TOFU append must not follow it either.
    const late = join(here, 'late_known_hosts');
    const knownHosts = await KnownHosts.open(late);
    await symlink(target, late);
    await expectKeyError(t, knownHosts.verify('h.example', 1, a, 'tofu'), KeyErrorCode.FILE_SYMLINK, {
      path: late,
    });
    await expectKeyError(t, knownHosts.add('h.example', 1, a), KeyErrorCode.FILE_SYMLINK);
    t.is(await readFile(target, 'utf8'), '# not a known_hosts file\n', 'the target is unchanged');
    // allowInsecurePermissions does not make a link acceptable.
    await expectKeyError(
      t,
      KnownHosts.open(path, { allowInsecurePermissions: true }),
      KeyErrorCode.FILE_SYMLINK,
    );
    const authorized = join(here, 'authorized_keys');
    await symlink(target, authorized);
    await expectKeyError(t, AuthorizedKeys.load(authorized), KeyErrorCode.FILE_SYMLINK, { path: authorized });
    await expectKeyError(t, AuthorizedKeys.add(authorized, a), KeyErrorCode.FILE_SYMLINK, {
      path: authorized,
    });
    t.is(await readFile(target, 'utf8'), '# not a known_hosts file\n');
  },
);

posixOnly('a FIFO in place of a store is refused at once instead of hanging the reader', async (t) => {
  const here = await caseDir();
  const path = join(here, 'known_hosts');
  await promisify(execFile)('mkfifo', ['-m', '600', path]);
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), 5000);
  });
  try {
    const outcome = await Promise.race([
      KnownHosts.open(path).then(
        () => 'opened',
        (error: unknown) => error,
      ),
      hung,
    ]);
    t.like(outcome, { code: KeyErrorCode.FILE_SYMLINK, path });
  } finally {
    clearTimeout(timer);
    // Old code blocks in open(): a writer that opens and closes the FIFO releases it.
    await open(path, constants.O_WRONLY | constants.O_NONBLOCK).then(
      (handle) => handle.close(),
      () => {},
    );
  }
});

posixOnly('a symlink planted as the lock file is refused, not read or waited on', async (t) => {
  const here = await caseDir();
  const path = join(here, 'known_hosts');
  const decoy = join(here, 'decoy');
  await writeFile(decoy, 'not a lock', { mode: 0o600 });
  await symlink(decoy, lockPathOf(path));
  await expectKeyError(
    t,
    withFileLock(path, async () => 'never', { timeoutMs: 300 }),
    KeyErrorCode.FILE_SYMLINK,
    {
      path: lockPathOf(path),
    },
  );
  const knownHosts = await KnownHosts.open(path, { lock: { timeoutMs: 300 } });
  await expectKeyError(t, knownHosts.add('h.example', 1, a), KeyErrorCode.FILE_SYMLINK);
  t.is(await readFile(decoy, 'utf8'), 'not a lock');
});

rootOnly('a lock file owned by another user is refused with ERR_KEY_FILE_OWNER', async (t) => {
  const here = await caseDir(0o1777);
  const path = join(here, 'authorized_keys');
  await writeFile(lockPathOf(path), '', { mode: 0o644 });
  await chown(lockPathOf(path), NOBODY, NOBODY);
  await expectKeyError(
    t,
    AuthorizedKeys.add(path, a, undefined, { lock: { timeoutMs: 300 } }),
    KeyErrorCode.FILE_OWNER,
    { path: lockPathOf(path), mentions: ['lock file', 'owned by uid 65534'] },
  );
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
  // StrictModes off (a store shared on purpose): another user's lock is waited on as usual.
  await t.throwsAsync(
    AuthorizedKeys.add(path, a, undefined, { lock: { timeoutMs: 100 }, allowInsecurePermissions: true }),
    { code: 'ERR_LOCK_TIMEOUT' },
  );
});
