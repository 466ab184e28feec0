/**
 * A cross-process lock for the trust stores: `<file>.lock`, created with O_CREAT|O_EXCL
 * (`wx`), holding `{"pid","host","time"}` of its owner. Node has no flock(), and lock files
 * also work on network file systems where advisory locks do not.
 *
 * A lock is stale, and may be broken, when its owner was on this host and is no longer
 * running, or when it is older than `staleMs` (owners hold it for one read and one write,
 * milliseconds). When several waiters find the same stale lock, deleting it naively lets a
 * slow one delete the fresh lock another waiter has just taken. So breaking is itself
 * serialised by a second lock file, `<file>.lock.break` (created `wx`, removed at once):
 * its holder re-reads the lock and deletes it only if it is still the same file (device and
 * inode) and still stale. A `.break` file left by a process that died within those few
 * system calls is removed once it is `staleMs` old.
 *
 * Lock files are created with O_EXCL (`wx`), which never follows a symbolic link, and read
 * with O_NOFOLLOW|O_NONBLOCK, at most {@link MAX_LOCK_FILE_BYTES}: a link, FIFO or device
 * planted as `<file>.lock` is refused (`ERR_KEY_FILE_SYMLINK`), and so is a lock file that
 * belongs to another user (`ERR_KEY_FILE_OWNER`), who could otherwise hold our writers off.
 * The trust stores check the directory itself before they lock (file-safety.ts).
 */
import { lstat, open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { debuglog } from 'node:util';
import { KeyError, KeyErrorCode, LockError, LockErrorCode } from './errors.js';
import { errnoCode, writeFailureReason } from './errno.js';
import { READ_NOFOLLOW, checkOpenedFile, openNoFollow } from './file-safety.js';

/** Default time {@link withFileLock} keeps trying before `ERR_LOCK_TIMEOUT`: 5 s. */
export const LOCK_TIMEOUT_MS = 5000;

/** Default age after which a lock file is stale whoever holds it: 10 s. */
export const LOCK_STALE_MS = 10_000;

/** Retry delays grow from this… */
const LOCK_RETRY_MIN_MS = 4;
/** …to this, each randomised to 50–100% so that waiting processes do not retry in step. */
const LOCK_RETRY_MAX_MS = 100;

/** Retries without waiting, per acquisition, after the lock file disappeared or was broken. */
const MAX_IMMEDIATE_RETRIES = 8;

/** Mode of lock files: they name a pid and host, nothing secret, but need not be shared. */
const LOCK_FILE_MODE = 0o600;

/** A lock file holds one short JSON line; no more than this is ever read from one. */
const MAX_LOCK_FILE_BYTES = 4096;

const debug = debuglog('secsess');

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** How long to keep trying to take the lock before `ERR_LOCK_TIMEOUT`, in ms. Default 5000. */
  timeoutMs?: number | undefined;
  /** A lock file older than this (ms) is stale and is broken. Default 10000. */
  staleMs?: number | undefined;
}

/** The lock file of `path`: `<path>.lock`. */
export function lockPathOf(path: string): string {
  return `${path}.lock`;
}

/** What a lock file says about its owner. */
interface LockOwner {
  pid: number;
  host: string;
  time: string;
}

/** A lock file as seen by a waiter. */
interface LockState {
  dev: bigint;
  ino: bigint;
  ageMs: number;
  owner: LockOwner | undefined;
}

/** The lock this process holds: its file's identity, to release only our own. */
interface HeldLock {
  lockPath: string;
  dev: bigint;
  ino: bigint;
}

function checkDuration(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds`);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number of milliseconds >= 0, got ${value}`);
  }
  return value;
}

/** Validates lock options up front. */
export function checkLockOptions(options: FileLockOptions | undefined): {
  timeoutMs: number;
  staleMs: number;
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError('lock options must be an object');
  }
  return {
    timeoutMs: checkDuration(options?.timeoutMs, 'lock.timeoutMs', LOCK_TIMEOUT_MS),
    staleMs: checkDuration(options?.staleMs, 'lock.staleMs', LOCK_STALE_MS),
  };
}

/**
 * Runs `fn` while holding the cross-process lock of `path` (the file `<path>.lock` in the
 * same directory, which must exist), and releases it afterwards, also when `fn` throws.
 * Waits with randomised backoff while another process holds it; breaks stale locks.
 *
 * @throws LockError `ERR_LOCK_TIMEOUT` when the lock could not be taken within `timeoutMs`
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE` when the lock file cannot be created (no such
 *   directory, permission denied)
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  options?: FileLockOptions,
  /** @internal `false` under `allowInsecurePermissions`: a lock of another user is waited on. */
  ownLocksOnly = true,
): Promise<T> {
  const { timeoutMs, staleMs } = checkLockOptions(options);
  const held = await acquire(path, timeoutMs, staleMs, ownLocksOnly);
  try {
    return await fn();
  } finally {
    await release(held);
  }
}

async function acquire(
  path: string,
  timeoutMs: number,
  staleMs: number,
  ownLocksOnly: boolean,
): Promise<HeldLock> {
  const lockPath = lockPathOf(path);
  const deadline = Date.now() + timeoutMs;
  let last: LockState | undefined;
  let immediateRetries = 0;
  for (let attempt = 0; ; attempt++) {
    const held = await tryCreate(lockPath);
    if (held !== undefined) return held;
    const state = await inspect(lockPath, ownLocksOnly);
    let free = state === undefined;
    if (state !== undefined && isStale(state, staleMs)) {
      debug('breaking stale lock %s (owner %o, %d ms old)', lockPath, state.owner, state.ageMs);
      free = await breakStale(lockPath, state, staleMs, ownLocksOnly);
    } else if (state !== undefined) {
      last = state;
    }
    // The lock just went away (released, or broken by us): try again at once, even past the
    // deadline, a bounded number of times.
    if (free && immediateRetries++ < MAX_IMMEDIATE_RETRIES) continue;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timeoutError(path, lockPath, timeoutMs, last);
    const ceiling = Math.min(LOCK_RETRY_MAX_MS, LOCK_RETRY_MIN_MS * 2 ** Math.min(attempt, 10));
    await sleep(Math.min(remaining, ceiling * (0.5 + Math.random() / 2)));
  }
}

/** Creates the lock file, or returns `undefined` if it exists. */
async function tryCreate(lockPath: string): Promise<HeldLock | undefined> {
  let handle;
  try {
    handle = await open(lockPath, 'wx', LOCK_FILE_MODE);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return undefined;
    // Windows reports a file that is being deleted as EPERM: it is about to be free.
    if (code === 'EPERM' && process.platform === 'win32') return undefined;
    const reason = writeFailureReason(error);
    throw new KeyError(KeyErrorCode.FILE_UNWRITABLE, `cannot create lock file ${lockPath}: ${reason}`, {
      path: lockPath,
      cause: error,
    });
  }
  try {
    const owner: LockOwner = { pid: process.pid, host: hostname(), time: new Date().toISOString() };
    await handle.writeFile(`${JSON.stringify(owner)}\n`);
    const stat = await handle.stat({ bigint: true });
    await handle.close();
    return { lockPath, dev: stat.dev, ino: stat.ino };
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(lockPath).catch(() => {});
    throw new KeyError(KeyErrorCode.FILE_UNWRITABLE, `cannot write lock file ${lockPath}`, {
      path: lockPath,
      cause: error,
    });
  }
}

/** Reads an existing lock file; `undefined` if it has gone. */
async function inspect(lockPath: string, ownLocksOnly: boolean): Promise<LockState | undefined> {
  let handle;
  try {
    handle = await openNoFollow(open, 'lock file', lockPath, READ_NOFOLLOW);
  } catch (error) {
    if (error instanceof KeyError) throw error;
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new KeyError(
      KeyErrorCode.FILE_UNREADABLE,
      `cannot read lock file ${lockPath}: ${errnoCode(error) ?? 'I/O error'}`,
      { path: lockPath, cause: error },
    );
  }
  try {
    // One descriptor for both, so the owner and the identity describe the same file.
    const stat = await handle.stat({ bigint: true });
    checkLockFile(lockPath, stat, ownLocksOnly);
    const buffer = Buffer.alloc(MAX_LOCK_FILE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_LOCK_FILE_BYTES, 0);
    const text = buffer.toString('utf8', 0, bytesRead);
    return {
      dev: stat.dev,
      ino: stat.ino,
      ageMs: Date.now() - Number(stat.mtimeMs),
      owner: parseOwner(text),
    };
  } finally {
    await handle.close();
  }
}

/**
 * A lock file must be a regular file of ours (or root's; any owner when `ownLocksOnly` is
 * false). Its mode is not judged: it is created 0600 and decides nothing but who waits.
 */
function checkLockFile(
  lockPath: string,
  stat: { uid: bigint; mode: bigint; isFile(): boolean; isDirectory(): boolean },
  ownLocksOnly: boolean,
): void {
  checkOpenedFile(
    'lock file',
    lockPath,
    {
      uid: Number(stat.uid),
      // The mode is not judged (see above): pass it without the group/other write bits.
      mode: Number(stat.mode) & ~0o022,
      isFile: () => stat.isFile(),
      isDirectory: () => stat.isDirectory(),
    },
    ownLocksOnly,
  );
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, host, time } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || typeof host !== 'string') {
      return undefined;
    }
    return { pid, host, time: typeof time === 'string' ? time : '' };
  } catch {
    // Empty while its creator is between open() and write(): not stale until old.
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return errnoCode(error) === 'EPERM';
  }
}

function isStale(state: LockState, staleMs: number): boolean {
  if (state.ageMs > staleMs) return true;
  const owner = state.owner;
  return owner !== undefined && owner.host === hostname() && !isRunning(owner.pid);
}

/**
 * Deletes the stale lock described by `state`, under the `.break` lock. Returns `false`
 * when another process is breaking it (the caller waits), `true` otherwise.
 */
async function breakStale(
  lockPath: string,
  state: LockState,
  staleMs: number,
  ownLocksOnly: boolean,
): Promise<boolean> {
  const breakPath = `${lockPath}.break`;
  let handle;
  try {
    handle = await open(breakPath, 'wx', LOCK_FILE_MODE);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw unwritable(breakPath, error);
    const age = await lstat(breakPath).then(
      (stat) => Date.now() - stat.mtimeMs,
      () => 0,
    );
    if (age > staleMs) await unlink(breakPath).catch(() => {});
    return false;
  }
  try {
    await handle.close();
    const current = await inspect(lockPath, ownLocksOnly);
    if (
      current !== undefined &&
      current.dev === state.dev &&
      current.ino === state.ino &&
      isStale(current, staleMs)
    ) {
      await unlink(lockPath).catch((error: unknown) => {
        if (errnoCode(error) !== 'ENOENT') throw unwritable(lockPath, error);
      });
    }
    return true;
  } finally {
    await unlink(breakPath).catch(() => {});
  }
}

function unwritable(path: string, error: unknown): KeyError {
  return new KeyError(
    KeyErrorCode.FILE_UNWRITABLE,
    `cannot break stale lock ${path}: ${errnoCode(error) ?? 'I/O error'}`,
    { path, cause: error },
  );
}

/**
 * Deletes our lock file if it is still ours. Never throws: the work under the lock is done,
 * and a lock file we fail to delete is stale as soon as this process exits.
 */
async function release(held: HeldLock): Promise<void> {
  try {
    const stat = await lstat(held.lockPath, { bigint: true });
    if (stat.dev === held.dev && stat.ino === held.ino) {
      await unlink(held.lockPath);
      return;
    }
    // Someone judged our lock stale (we held it longer than staleMs) and broke it.
    debug('lock %s was broken while held', held.lockPath);
  } catch (error) {
    debug('could not release lock %s: %s', held.lockPath, errnoCode(error) ?? error);
  }
}

function timeoutError(
  path: string,
  lockPath: string,
  timeoutMs: number,
  last: LockState | undefined,
): LockError {
  const owner = last?.owner;
  const holder =
    owner === undefined
      ? `${lockPath} exists`
      : `${lockPath} is held by process ${owner.pid} on ${owner.host}${owner.time === '' ? '' : ` since ${owner.time}`}`;
  return new LockError(
    LockErrorCode.TIMEOUT,
    `could not lock ${path} within ${timeoutMs} ms: ${holder}; ` +
      `if no secsess process is using the file, delete ${lockPath}`,
    { path, lockPath },
  );
}
