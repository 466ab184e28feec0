import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  AuthorizedKeys,
  KeyErrorCode,
  KnownHosts,
  LOCK_STALE_MS,
  LOCK_TIMEOUT_MS,
  LockError,
  LockErrorCode,
  lockPathOf,
  SecsessError,
  withFileLock,
} from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { expectKeyError } from './helpers/assert.js';
import { makeTempDir } from './helpers/tools.js';
import { rsaPublicKeys } from './helpers/trust.js';

let dir!: string;
let cleanup: (() => Promise<void>) | undefined;
let key!: PublicKey;
/** The pid of a process that has exited. */
let deadPid!: number;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-lock-'));
  [key] = (await rsaPublicKeys(1)) as [PublicKey];
  const child = execFile(process.execPath, ['-e', '']);
  await once(child, 'exit');
  deadPid = child.pid ?? 0;
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (): string => join(dir, `store-${counter++}`);

/** Writes a lock file for `path` as another owner would. */
async function plantLock(path: string, owner: { pid: number; host: string }, ageMs = 0): Promise<string> {
  const lockPath = lockPathOf(path);
  await writeFile(lockPath, `${JSON.stringify({ ...owner, time: new Date().toISOString() })}\n`);
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(lockPath, then, then);
  }
  return lockPath;
}

test('the defaults: 5 s to take a lock, stale after 10 s; the lock file is <file>.lock', (t) => {
  t.is(LOCK_TIMEOUT_MS, 5000);
  t.is(LOCK_STALE_MS, 10_000);
  t.is(lockPathOf('/x/known_hosts'), '/x/known_hosts.lock');
});

test('withFileLock holds <file>.lock (pid, host, time) while fn runs and removes it after', async (t) => {
  const path = fresh();
  const result = await withFileLock(path, async () => {
    const owner = JSON.parse(await readFile(lockPathOf(path), 'utf8')) as Record<string, unknown>;
    t.is(owner['pid'], process.pid);
    t.is(owner['host'], hostname());
    t.regex(String(owner['time']), /^\d{4}-\d\d-\d\dT/);
    t.is((await stat(lockPathOf(path))).mode & 0o777, 0o600);
    return 42;
  });
  t.is(result, 42);
  await t.throwsAsync(stat(lockPathOf(path)), { code: 'ENOENT' });
});

test('the lock is released when fn throws, and the error passes through', async (t) => {
  const path = fresh();
  await t.throwsAsync(
    withFileLock(path, async () => {
      throw new Error('inside');
    }),
    { message: 'inside' },
  );
  await t.throwsAsync(stat(lockPathOf(path)), { code: 'ENOENT' });
});

test('calls in one process take turns', async (t) => {
  const path = fresh();
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      withFileLock(path, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((resolve) => setImmediate(resolve));
        inside--;
      }),
    ),
  );
  t.is(most, 1);
});

test('a lock held by a live process is ERR_LOCK_TIMEOUT naming the lock file and its owner', async (t) => {
  const path = fresh();
  const lockPath = await plantLock(path, { pid: process.pid, host: hostname() });
  const error = await t.throwsAsync(
    withFileLock(path, async () => 'never', { timeoutMs: 50 }),
    {
      instanceOf: LockError,
    },
  );
  if (!(error instanceof LockError)) return;
  t.true(error instanceof SecsessError);
  t.is(error.name, 'LockError');
  t.is(error.code, LockErrorCode.TIMEOUT);
  t.is(error.code, 'ERR_LOCK_TIMEOUT');
  t.is(error.path, path);
  t.is(error.lockPath, lockPath);
  for (const text of [
    path,
    `${lockPath} is held by process ${process.pid} on ${hostname()}`,
    `delete ${lockPath}`,
  ]) {
    t.true(error.message.includes(text), `message mentions ${text}: ${error.message}`);
  }
  t.truthy(await readFile(lockPath, 'utf8'), 'the live lock is left alone');
});

test('known_hosts and authorized_keys writes report ERR_LOCK_TIMEOUT and write nothing', async (t) => {
  const path = fresh();
  await plantLock(path, { pid: process.pid, host: hostname() });
  const knownHosts = await KnownHosts.open(path, { lock: { timeoutMs: 20 } });
  await t.throwsAsync(knownHosts.add('h.example', 1, key), {
    instanceOf: LockError,
    code: 'ERR_LOCK_TIMEOUT',
  });
  await t.throwsAsync(knownHosts.verify('h.example', 1, key, 'tofu'), { code: 'ERR_LOCK_TIMEOUT' });
  await t.throwsAsync(AuthorizedKeys.add(path, key, undefined, { lock: { timeoutMs: 20 } }), {
    code: 'ERR_LOCK_TIMEOUT',
  });
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
});

test('a lock file without a readable owner is respected until it is old', async (t) => {
  const path = fresh();
  await writeFile(lockPathOf(path), '');
  await t.throwsAsync(
    withFileLock(path, async () => {}, { timeoutMs: 20 }),
    { code: 'ERR_LOCK_TIMEOUT' },
  );
  const old = new Date(Date.now() - 60_000);
  await utimes(lockPathOf(path), old, old);
  t.is(await withFileLock(path, async () => 'taken'), 'taken');
});

test('a lock of a process that has exited is stale and broken at once', async (t) => {
  const path = fresh();
  await plantLock(path, { pid: deadPid, host: hostname() });
  t.is(await withFileLock(path, async () => 'taken', { timeoutMs: 0 }), 'taken');
  await t.throwsAsync(stat(lockPathOf(path)), { code: 'ENOENT' });
  await t.throwsAsync(stat(`${lockPathOf(path)}.break`), { code: 'ENOENT' }, 'no .break file left');
});

test('a .break file left by a process that died while breaking is cleared once old', async (t) => {
  const path = fresh();
  await plantLock(path, { pid: deadPid, host: hostname() });
  const breakPath = `${lockPathOf(path)}.break`;
  await writeFile(breakPath, '');
  // Fresh: another process may be breaking the lock right now, so wait for it.
  await t.throwsAsync(
    withFileLock(path, async () => {}, { timeoutMs: 30 }),
    { code: 'ERR_LOCK_TIMEOUT' },
  );
  const old = new Date(Date.now() - 60_000);
  await utimes(breakPath, old, old);
  t.is(await withFileLock(path, async () => 'taken'), 'taken');
  await t.throwsAsync(stat(breakPath), { code: 'ENOENT' });
});

test('a lock older than staleMs is broken even if its owner still runs', async (t) => {
  const path = fresh();
  await plantLock(path, { pid: process.pid, host: hostname() }, 60_000);
  t.is(await withFileLock(path, async () => 'taken', { timeoutMs: 0 }), 'taken');
  await plantLock(path, { pid: process.pid, host: hostname() }, 2000);
  t.is(await withFileLock(path, async () => 'taken', { timeoutMs: 0, staleMs: 1000 }), 'taken');
});

test("another host's fresh lock is not judged by pid", async (t) => {
  const path = fresh();
  await plantLock(path, { pid: deadPid, host: `not-${hostname()}` });
  await t.throwsAsync(
    withFileLock(path, async () => {}, { timeoutMs: 20 }),
    { code: 'ERR_LOCK_TIMEOUT' },
  );
});

test('a lock in a missing directory is ERR_KEY_FILE_UNWRITABLE', async (t) => {
  const path = join(dir, 'no-such-dir', 'known_hosts');
  await expectKeyError(
    t,
    withFileLock(path, async () => {}),
    KeyErrorCode.FILE_UNWRITABLE,
    { path: lockPathOf(path), mentions: ['directory does not exist'] },
  );
});

test('lock options are validated', async (t) => {
  const path = fresh();
  await t.throwsAsync(
    withFileLock(path, async () => {}, { timeoutMs: -1 }),
    { instanceOf: RangeError },
  );
  await t.throwsAsync(
    withFileLock(path, async () => {}, { timeoutMs: Infinity }),
    { instanceOf: RangeError },
  );
  await t.throwsAsync(
    withFileLock(path, async () => {}, { staleMs: '5' as never }),
    { instanceOf: TypeError },
  );
  await t.throwsAsync(
    withFileLock(path, async () => {}, null as never),
    { instanceOf: TypeError },
  );
});
