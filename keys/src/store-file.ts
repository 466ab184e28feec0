/**
 * The files of the trust stores (known_hosts, authorized_keys): bounded reads with errors
 * that name the file, a permission check, one-write appends and atomic rewrites.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyError, KeyErrorCode } from './errors.js';
import { writeKeyFile } from './key-file.js';
import { errnoCode, writeFailureReason } from './errno.js';

/** Mode of the trust-store files secsess creates. */
export const STORE_FILE_MODE = 0o600;

/** Mode of a directory secsess creates for a trust store (e.g. `~/.secsess`). */
export const STORE_DIR_MODE = 0o700;

/** A known_hosts or authorized_keys file larger than this (16 MiB) is refused unread. */
export const MAX_STORE_FILE_BYTES = 16 * 1024 * 1024;

/** Which store a file is, for messages: `known_hosts file /x` or `authorized_keys file /x`. */
export type StoreKind = 'known_hosts' | 'authorized_keys';

/** Text and mode of a store file. */
export interface StoreContents {
  text: string;
  /** `st_mode` (type and permission bits). */
  mode: number;
}

/** Options of {@link readStoreFile}. */
export interface ReadStoreOptions {
  /** Return `undefined` for a missing file instead of throwing `ERR_KEY_FILE_NOT_FOUND`. */
  missingOk: boolean;
  /** Skip the group/other-writable check. */
  allowInsecurePermissions?: boolean | undefined;
  /** Appended to the not-found message (what to run to create the file). */
  missingHint?: string | undefined;
}

function unreadable(kind: StoreKind, path: string, reason: string, cause?: unknown): KeyError {
  return new KeyError(KeyErrorCode.FILE_UNREADABLE, `cannot read ${kind} file ${path}: ${reason}`, {
    path,
    cause,
  });
}

/**
 * Refuses a store that group or others may write (`mode & 0o022`): whoever can write
 * known_hosts or authorized_keys decides whom secsess trusts. sshd's StrictModes refuses
 * the same. Skipped on Windows, where POSIX modes do not describe access.
 *
 * @throws KeyError `ERR_KEY_PERMISSIONS`
 */
export function checkStorePermissions(kind: StoreKind, path: string, mode: number): void {
  if (process.platform === 'win32' || (mode & 0o022) === 0) return;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  throw new KeyError(
    KeyErrorCode.PERMISSIONS,
    `${kind} file ${path} is writable by group or others (mode ${octal}), so anyone who can write it ` +
      `decides which keys secsess trusts; run \`chmod 600 ${path}\``,
    { path },
  );
}

/**
 * Reads a store file as UTF-8 (a leading BOM removed). Size and mode come from the open
 * descriptor, so they describe the bytes read.
 *
 * @throws KeyError `ERR_KEY_FILE_NOT_FOUND` (unless `missingOk`), `ERR_KEY_FILE_UNREADABLE`,
 *   `ERR_KEY_FORMAT` (over {@link MAX_STORE_FILE_BYTES}), `ERR_KEY_PERMISSIONS`
 */
export async function readStoreFile(
  kind: StoreKind,
  path: string,
  options: ReadStoreOptions,
): Promise<StoreContents | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (options.missingOk) return undefined;
      throw new KeyError(
        KeyErrorCode.FILE_NOT_FOUND,
        `${kind} file ${path} does not exist${options.missingHint ?? '; check the path'}`,
        { path, cause: error },
      );
    }
    throw unreadable(
      kind,
      path,
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied; check its owner and mode'
        : (code ?? 'I/O error'),
      error,
    );
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw unreadable(kind, path, 'it is a directory');
    if (stat.size > MAX_STORE_FILE_BYTES) {
      throw new KeyError(
        KeyErrorCode.FORMAT,
        `${kind} file ${path} is ${stat.size} bytes, over the limit of ${MAX_STORE_FILE_BYTES}; check the path`,
        { path },
      );
    }
    if (options.allowInsecurePermissions !== true) checkStorePermissions(kind, path, stat.mode);
    const text = (await handle.readFile('utf8')).replace(/^\uFEFF/, '');
    return { text, mode: stat.mode };
  } catch (error) {
    throw error instanceof KeyError ? error : unreadable(kind, path, errnoCode(error) ?? 'I/O error', error);
  } finally {
    await handle.close();
  }
}

/** Creates the directory of a store file (mode 0700) if it is missing. */
export async function ensureStoreDirectory(kind: StoreKind, path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: STORE_DIR_MODE });
  } catch (error) {
    throw new KeyError(
      KeyErrorCode.FILE_UNWRITABLE,
      `cannot create directory ${dirname(path)} for ${kind} file ${path}: ${errnoCode(error) ?? 'I/O error'}`,
      { path, cause: error },
    );
  }
}

/**
 * Appends one line to a store file with a single write on an O_APPEND descriptor, then
 * fsyncs. A missing file is created with mode 0600 (set exactly, whatever the umask).
 * Callers hold the file's lock and pass the text they just read: if it does not end with a
 * newline, one is written first so the new line stands on its own.
 *
 * @param line - one line, without its newline
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`
 */
export async function appendStoreLine(
  kind: StoreKind,
  path: string,
  line: string,
  currentText: string | undefined,
): Promise<void> {
  const separator =
    currentText !== undefined && currentText !== '' && !currentText.endsWith('\n') ? '\n' : '';
  const data = Buffer.from(`${separator}${line}\n`, 'utf8');
  try {
    let handle;
    let created = true;
    try {
      handle = await open(path, 'ax', STORE_FILE_MODE);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
      created = false;
      handle = await open(path, 'a');
    }
    try {
      if (created && process.platform !== 'win32') await handle.chmod(STORE_FILE_MODE);
      let offset = 0;
      // One write() in practice; the loop only guards against a short write (disk full).
      for (let writes = 0; offset < data.length && writes < 16; writes++) {
        const { bytesWritten } = await handle.write(data, offset);
        offset += bytesWritten;
      }
      if (offset < data.length) throw Object.assign(new Error('short write'), { code: 'EIO' });
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    const reason = writeFailureReason(error);
    throw new KeyError(KeyErrorCode.FILE_UNWRITABLE, `cannot write ${kind} file ${path}: ${reason}`, {
      path,
      cause: error,
    });
  }
}

/**
 * Replaces a store file atomically (temporary file, fsync, rename; see `writeKeyFile`),
 * keeping its permission bits.
 *
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`
 */
export async function rewriteStoreFile(path: string, text: string, mode: number): Promise<void> {
  await writeKeyFile(path, Buffer.from(text, 'utf8'), { mode: mode & 0o777, force: true });
}

/**
 * Creates an empty store file (mode 0600) and its directory (0700) if they are missing;
 * an existing file is left as it is.
 *
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`
 */
export async function createStoreFile(kind: StoreKind, path: string): Promise<void> {
  await ensureStoreDirectory(kind, path);
  let handle;
  try {
    handle = await open(path, 'ax', STORE_FILE_MODE);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return;
    throw new KeyError(
      KeyErrorCode.FILE_UNWRITABLE,
      `cannot create ${kind} file ${path}: ${errnoCode(error) ?? 'I/O error'}`,
      { path, cause: error },
    );
  }
  try {
    if (process.platform !== 'win32') await handle.chmod(STORE_FILE_MODE);
  } finally {
    await handle.close();
  }
}
