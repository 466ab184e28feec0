/**
 * The files of the trust stores (known_hosts, authorized_keys): bounded reads with errors
 * that name the file, sshd's StrictModes checks (file-safety.ts), one-write appends and
 * atomic rewrites. No store file is ever read or written through a symbolic link.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyError, KeyErrorCode } from './errors.js';
import { writeKeyFile } from './key-file.js';
import { errnoCode, writeFailureReason } from './errno.js';
import {
  APPEND_NOFOLLOW,
  CREATE_APPEND_EXCL,
  READ_NOFOLLOW,
  checkOpenedFile,
  checkParentDirectories,
  openNoFollow,
} from './file-safety.js';

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
  /** Skip the ownership and mode checks of the file and its directories (never the link check). */
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
 * Reads a store file as UTF-8 (a leading BOM removed), refusing a symbolic link. Type,
 * owner, mode and size come from the open descriptor, so they describe the bytes read;
 * then the directories above it are checked (see file-safety.ts).
 *
 * @throws KeyError `ERR_KEY_FILE_NOT_FOUND` (unless `missingOk`), `ERR_KEY_FILE_UNREADABLE`,
 *   `ERR_KEY_FORMAT` (over {@link MAX_STORE_FILE_BYTES}), `ERR_KEY_PERMISSIONS`,
 *   `ERR_KEY_FILE_OWNER`, `ERR_KEY_FILE_SYMLINK`
 */
export async function readStoreFile(
  kind: StoreKind,
  path: string,
  options: ReadStoreOptions,
): Promise<StoreContents | undefined> {
  let handle;
  try {
    handle = await openNoFollow(open, `${kind} file`, path, READ_NOFOLLOW);
  } catch (error) {
    if (error instanceof KeyError) throw error;
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
    const strict = options.allowInsecurePermissions !== true;
    checkOpenedFile(`${kind} file`, path, stat, strict);
    if (stat.size > MAX_STORE_FILE_BYTES) {
      throw new KeyError(
        KeyErrorCode.FORMAT,
        `${kind} file ${path} is ${stat.size} bytes, over the limit of ${MAX_STORE_FILE_BYTES}; check the path`,
        { path },
      );
    }
    if (strict) await checkParentDirectories(`${kind} file`, path);
    const text = (await handle.readFile('utf8')).replace(/^\uFEFF/, '');
    return { text, mode: stat.mode };
  } catch (error) {
    throw error instanceof KeyError ? error : unreadable(kind, path, errnoCode(error) ?? 'I/O error', error);
  } finally {
    await handle.close();
  }
}

/** Options of the functions that write store files. */
export interface WriteStoreOptions {
  /** Skip the ownership and mode checks of the file and its directories (never the link check). */
  allowInsecurePermissions?: boolean | undefined;
}

/**
 * Creates the directory of a store file (mode 0700) if it is missing, then checks it and
 * the directories above it: the lock file, temporary files and the store itself are about
 * to be created there.
 *
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`, `ERR_KEY_PERMISSIONS`, `ERR_KEY_FILE_OWNER`
 */
export async function ensureStoreDirectory(
  kind: StoreKind,
  path: string,
  options: WriteStoreOptions = {},
): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: STORE_DIR_MODE });
  } catch (error) {
    throw new KeyError(
      KeyErrorCode.FILE_UNWRITABLE,
      `cannot create directory ${dirname(path)} for ${kind} file ${path}: ${errnoCode(error) ?? 'I/O error'}`,
      { path, cause: error },
    );
  }
  if (options.allowInsecurePermissions !== true) await checkParentDirectories(`${kind} file`, path);
}

/**
 * Appends one line to a store file with a single write on an O_APPEND descriptor, then
 * fsyncs. A missing file is created (O_EXCL) with mode 0600 (set exactly, whatever the
 * umask); an existing one is opened with O_NOFOLLOW and checked on its descriptor before
 * anything is written, so a link never redirects the write. Callers hold the file's lock,
 * have checked its directory ({@link ensureStoreDirectory}) and pass the text they just
 * read: if it does not end with a newline, one is written first so the new line stands on
 * its own.
 *
 * @param line - one line, without its newline
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`, `ERR_KEY_FILE_SYMLINK`, `ERR_KEY_FILE_OWNER`,
 *   `ERR_KEY_PERMISSIONS`
 */
export async function appendStoreLine(
  kind: StoreKind,
  path: string,
  line: string,
  currentText: string | undefined,
  options: WriteStoreOptions = {},
): Promise<void> {
  const separator =
    currentText !== undefined && currentText !== '' && !currentText.endsWith('\n') ? '\n' : '';
  const data = Buffer.from(`${separator}${line}\n`, 'utf8');
  try {
    let handle;
    let created = true;
    try {
      handle = await open(path, CREATE_APPEND_EXCL, STORE_FILE_MODE);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
      created = false;
      handle = await openNoFollow(open, `${kind} file`, path, APPEND_NOFOLLOW);
    }
    try {
      if (created && process.platform !== 'win32') await handle.chmod(STORE_FILE_MODE);
      checkOpenedFile(`${kind} file`, path, await handle.stat(), options.allowInsecurePermissions !== true);
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
    if (error instanceof KeyError) throw error;
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
 * an existing file is left as it is (and checked when it is read).
 *
 * @throws KeyError `ERR_KEY_FILE_UNWRITABLE`; directory errors of {@link ensureStoreDirectory}
 */
export async function createStoreFile(
  kind: StoreKind,
  path: string,
  options: WriteStoreOptions = {},
): Promise<void> {
  await ensureStoreDirectory(kind, path, options);
  let handle;
  try {
    handle = await open(path, CREATE_APPEND_EXCL, STORE_FILE_MODE);
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
