/**
 * Key files on disk: bounded reads with errors that name the file, the private-key
 * permission check, and atomic, no-clobber writes.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { link, lstat, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KEY_DIRECTORY_MODE, MAX_KEY_FILE_BYTES } from './constants.js';
import { KeyError, KeyErrorCode } from './errors.js';
import { errnoCode, writeFailureReason } from './errno.js';

/** Bytes of a key file and its permission bits. */
export interface KeyFileContents {
  data: Buffer;
  /** `st_mode` of the file (type and permission bits). */
  mode: number;
}

function readError(error: unknown, path: string): KeyError {
  const code = errnoCode(error);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new KeyError(KeyErrorCode.FILE_NOT_FOUND, `key file ${path} does not exist; check the path`, {
      path,
      cause: error,
    });
  }
  const reason =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied; check its owner and mode'
      : code === 'EISDIR'
        ? 'it is a directory; give the key file inside it'
        : `${code ?? 'I/O error'}`;
  return new KeyError(KeyErrorCode.FILE_UNREADABLE, `cannot read key file ${path}: ${reason}`, {
    path,
    cause: error,
  });
}

function checkStat(path: string, stat: { isDirectory(): boolean; size: number }): void {
  if (stat.isDirectory()) throw readError(Object.assign(new Error('EISDIR'), { code: 'EISDIR' }), path);
  if (stat.size > MAX_KEY_FILE_BYTES) {
    throw new KeyError(
      KeyErrorCode.FORMAT,
      `key file ${path} is ${stat.size} bytes, too large to be a key (limit ${MAX_KEY_FILE_BYTES}); check the path`,
      { path },
    );
  }
}

/**
 * Reads a key file. The size and mode come from the open descriptor, so they describe the
 * bytes we read even if the path is replaced meanwhile.
 *
 * @throws KeyError `ERR_KEY_FILE_NOT_FOUND`, `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_FORMAT` (over 1 MiB)
 */
export async function readKeyFile(path: string): Promise<KeyFileContents> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw readError(error, path);
  }
  try {
    const stat = await handle.stat();
    checkStat(path, stat);
    return { data: await handle.readFile(), mode: stat.mode };
  } catch (error) {
    throw error instanceof KeyError ? error : readError(error, path);
  } finally {
    await handle.close();
  }
}

/** Synchronous {@link readKeyFile}. */
export function readKeyFileSync(path: string): KeyFileContents {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw readError(error, path);
  }
  try {
    const stat = fstatSync(fd);
    checkStat(path, stat);
    return { data: readFileSync(fd), mode: stat.mode };
  } catch (error) {
    throw error instanceof KeyError ? error : readError(error, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses a private key file that group or others may access (`mode & 0o077`), as OpenSSH
 * does. Skipped on Windows, where POSIX modes do not describe access.
 *
 * @param subject what the file is, for the message (any secret file: a ticket-key file is
 *   held to the same rule)
 * @throws KeyError `ERR_KEY_PERMISSIONS`
 */
export function checkPrivateKeyPermissions(path: string, mode: number, subject = 'private key file'): void {
  if (process.platform === 'win32' || (mode & 0o077) === 0) return;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  throw new KeyError(
    KeyErrorCode.PERMISSIONS,
    `${subject} ${path} is accessible by group or others (mode ${octal}); run \`chmod 600 ${path}\``,
    { path },
  );
}

function existsError(path: string): KeyError {
  return new KeyError(KeyErrorCode.FILE_EXISTS, `${path} already exists; not overwriting it without force`, {
    path,
  });
}

function writeError(error: unknown, path: string): KeyError {
  const reason = writeFailureReason(error);
  return new KeyError(KeyErrorCode.FILE_UNWRITABLE, `cannot write key file ${path}: ${reason}`, {
    path,
    cause: error,
  });
}

/**
 * Throws `ERR_KEY_FILE_EXISTS` if anything (even a dangling symlink) is at `path`.
 * Useful to fail before slow work; {@link writeKeyFile} checks again atomically.
 */
export async function assertNoFile(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (error) {
    // ENOTDIR: a parent is a regular file, so nothing can exist at `path` either.
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw writeError(error, path);
  }
  throw existsError(path);
}

/**
 * Creates the missing directories above the key file `path` with mode 0700 (as
 * `secsess-keygen -o dir/name` and {@link KeyPair.save} do); existing ones are left as
 * they are.
 *
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE` naming the directory (a parent is a regular
 *   file, permission denied…)
 */
export async function ensureKeyDirectory(path: string): Promise<void> {
  const directory = dirname(path);
  try {
    await mkdir(directory, { recursive: true, mode: KEY_DIRECTORY_MODE });
  } catch (error) {
    throw new KeyError(
      KeyErrorCode.FILE_UNWRITABLE,
      `cannot create directory ${directory} for key file ${path} (${errnoCode(error) ?? 'I/O error'})`,
      { path, cause: error },
    );
  }
}

/** Options of {@link writeKeyFile}. */
export interface WriteKeyFileOptions {
  /** Permission bits of the new file, set exactly (umask does not apply). */
  mode: number;
  /** Replace an existing file. Default `false`: `ERR_KEY_FILE_EXISTS`. */
  force?: boolean | undefined;
}

/**
 * Writes a key file atomically: the data goes to a new temporary file in the same
 * directory (created with `wx` and `mode`, so never readable by others), is fsynced, and
 * then takes the destination's name. Without `force` the rename is a hard link, which
 * fails if the name exists, so an existing file is never replaced even in a race; on file
 * systems without hard links we fall back to checking first.
 *
 * @throws KeyError `ERR_KEY_FILE_EXISTS`, `ERR_KEY_FILE_UNWRITABLE`
 */
export async function writeKeyFile(
  path: string,
  data: Uint8Array,
  options: WriteKeyFileOptions,
): Promise<void> {
  const directory = dirname(path);
  const temp = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await open(temp, 'wx', options.mode);
  } catch (error) {
    throw writeError(error, path);
  }
  try {
    try {
      if (process.platform !== 'win32') await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.force === true) {
      await rename(temp, path);
    } else {
      await linkNoClobber(temp, path);
    }
  } catch (error) {
    await rm(temp, { force: true });
    throw error instanceof KeyError ? error : writeError(error, path);
  }
  await syncDirectory(directory);
}

async function linkNoClobber(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') throw existsError(path);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    // No hard links here (FAT, some network and FUSE file systems): check, then rename.
    await assertNoFile(path);
    await rename(temp, path);
    return;
  }
  await unlink(temp);
}

/** Makes the new directory entry durable. Best effort: not every platform can fsync a directory. */
async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the rename is not guaranteed on this file system; the data itself is synced.
  }
}
