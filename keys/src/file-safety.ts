/**
 * sshd's StrictModes for the trust stores (known_hosts, authorized_keys) and their lock
 * files: whoever can write one of them, or replace it, decides whom secsess trusts.
 *
 * - The file is opened with O_NOFOLLOW (a symbolic link is refused, never followed) and
 *   O_NONBLOCK (a FIFO planted in its place cannot hang us), and everything is judged on
 *   the open descriptor (fstat), so the checks describe the bytes we read or append to,
 *   whatever happens to the path meanwhile.
 * - The file is a regular file owned by the current user or root, and not writable by
 *   group or others.
 * - Every directory above it — of its real path, so a symlinked directory such as
 *   `~/.secsess -> /data/secsess` is judged where it really lives — is owned by the user
 *   or root and not writable by group or others, walking up to the user's home directory
 *   (included) when the file lies under it, as sshd does, and to `/` otherwise.
 * - One exception, which sshd never needs because it stops at the home directory: a
 *   world-writable directory with the sticky bit (`/tmp`, mode 1777), owned by root or the
 *   user, is accepted. Others may create entries in it but cannot rename or remove ours,
 *   and every entry we use is checked itself (owner, mode, no link).
 *
 * Not done on Windows, where POSIX owners and modes do not describe access. The check of
 * the directories follows the path once more after the file was opened (Node has no
 * openat): only someone who can write one of those directories could swap it in between,
 * and the walk refuses exactly such directories.
 */
import { constants } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve, sep } from 'node:path';
import { KeyError, KeyErrorCode } from './errors.js';
import { errnoCode } from './errno.js';

/** O_NOFOLLOW, or 0 where the platform has none (Windows). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** O_NONBLOCK, or 0 where the platform has none. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Flags to read a store file: read-only, no link followed, no blocking on a FIFO. */
export const READ_NOFOLLOW = constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/** Flags to append to an existing store file without following a link. */
export const APPEND_NOFOLLOW = constants.O_WRONLY | constants.O_APPEND | O_NOFOLLOW | O_NONBLOCK;

/** Flags to create a store file that must not exist yet (O_EXCL never follows a link). */
export const CREATE_APPEND_EXCL =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;

/** Bound of the directory walk (levels); a real path is never this deep. */
const MAX_DEPTH = 256;

const S_IWGRP_IWOTH = 0o022;
const S_ISVTX = 0o1000;

/** What the file is, for messages: `known_hosts file`, `lock file`… */
export type SafetySubject = string;

/** The fields of a `Stats` the checks read. */
export interface OwnerAndMode {
  uid: number;
  mode: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

function skipped(): boolean {
  return process.platform === 'win32';
}

function currentUid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

function ownerOk(uid: number): boolean {
  const me = currentUid();
  return me === undefined || uid === 0 || uid === me;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** `ERR_KEY_FILE_SYMLINK` for a link (or a FIFO, device…) where a store file should be. */
export function linkError(subject: SafetySubject, path: string, what = 'a symbolic link'): KeyError {
  return new KeyError(
    KeyErrorCode.FILE_SYMLINK,
    `${subject} ${path} is ${what}; secsess never reads or writes a trust store through one ` +
      `(a link lets whoever controls its target decide which keys are trusted): ` +
      `use the real file's path instead, or replace the link with the file`,
    { path },
  );
}

/** Whether an open() failure means O_NOFOLLOW met a symbolic link. */
export function isLinkRefusal(error: unknown): boolean {
  const code = errnoCode(error);
  // Linux and macOS say ELOOP; FreeBSD and NetBSD say EMLINK; NetBSD also EFTYPE.
  return code === 'ELOOP' || code === 'EMLINK' || code === 'EFTYPE';
}

function ownerError(
  subject: SafetySubject,
  path: string,
  uid: number,
  kind: 'file' | 'directory',
  target: string,
): KeyError {
  const me = currentUid() ?? 0;
  const what =
    kind === 'file' ? `${subject} ${path}` : `directory ${target}, which holds ${subject} ${path},`;
  return new KeyError(
    KeyErrorCode.FILE_OWNER,
    `${what} is owned by uid ${uid}, not by you (uid ${me}) or root, so that user ` +
      (subject === 'lock file'
        ? 'can hold off every writer of the store'
        : 'decides which keys secsess trusts') +
      `; if it should be yours, run \`chown ${me} ${target}\` as root, otherwise ` +
      (kind === 'file' ? 'remove it and create your own' : 'keep the file in a directory you own'),
    { path },
  );
}

/**
 * Checks an opened store file (its fstat): a regular file, owned by the user or root, not
 * writable by group or others. `strict: false` (allowInsecurePermissions) keeps only the
 * regular-file check.
 *
 * @throws KeyError `ERR_KEY_FILE_SYMLINK` (not a regular file), `ERR_KEY_FILE_OWNER`,
 *   `ERR_KEY_PERMISSIONS`
 */
export function checkOpenedFile(
  subject: SafetySubject,
  path: string,
  stats: OwnerAndMode,
  strict: boolean,
): void {
  if (stats.isDirectory()) {
    throw new KeyError(KeyErrorCode.FILE_UNREADABLE, `cannot read ${subject} ${path}: it is a directory`, {
      path,
    });
  }
  if (!stats.isFile()) throw linkError(subject, path, 'not a regular file (a FIFO, socket or device)');
  if (!strict || skipped()) return;
  if (!ownerOk(stats.uid)) throw ownerError(subject, path, stats.uid, 'file', path);
  if ((stats.mode & S_IWGRP_IWOTH) !== 0) {
    throw new KeyError(
      KeyErrorCode.PERMISSIONS,
      `${subject} ${path} is writable by group or others (mode ${octal(stats.mode)}), so anyone who can ` +
        `write it decides which keys secsess trusts; run \`chmod 600 ${path}\``,
      { path },
    );
  }
}

/** Opens `path` with `flags`; a symbolic link is `ERR_KEY_FILE_SYMLINK`, other errors pass through. */
export async function openNoFollow(
  open: (path: string, flags: number, mode?: number) => Promise<FileHandle>,
  subject: SafetySubject,
  path: string,
  flags: number,
  mode?: number,
): Promise<FileHandle> {
  try {
    return await open(path, flags, mode);
  } catch (error) {
    if (isLinkRefusal(error)) throw linkError(subject, path);
    throw error;
  }
}

async function realHome(): Promise<string | undefined> {
  try {
    return await realpath(homedir());
  } catch {
    return undefined;
  }
}

function isUnder(path: string, directory: string): boolean {
  return path === directory || path.startsWith(directory.endsWith(sep) ? directory : directory + sep);
}

/**
 * Checks every directory above `path` (of its real path): owned by the user or root, not
 * writable by group or others unless sticky and owned by root or the user. Walks up to the
 * home directory (included) for a file under it, else to the root.
 *
 * @throws KeyError `ERR_KEY_FILE_OWNER`, `ERR_KEY_PERMISSIONS`; `ERR_KEY_FILE_UNREADABLE`
 *   when a directory cannot be examined
 */
export async function checkParentDirectories(subject: SafetySubject, path: string): Promise<void> {
  if (skipped()) return;
  const [directory, home] = await Promise.all([
    realpath(dirname(resolve(path))).catch((error: unknown) => {
      throw new KeyError(
        KeyErrorCode.FILE_UNREADABLE,
        `cannot examine the directory of ${subject} ${path}: ${errnoCode(error) ?? 'I/O error'}`,
        { path, cause: error },
      );
    }),
    realHome(),
  ]);
  const stopAtHome = home !== undefined && home !== sep && isUnder(directory, home);
  const chain: string[] = [];
  for (let current = directory; chain.length < MAX_DEPTH; current = dirname(current)) {
    chain.push(current);
    if ((stopAtHome && current === home) || dirname(current) === current) break;
  }
  // All at once (one round of the thread pool, not one per level), judged in order.
  const results = await Promise.allSettled(chain.map((entry) => stat(entry)));
  results.forEach((result, index) => {
    const entry = chain[index] ?? '';
    if (result.status === 'fulfilled') {
      checkDirectory(subject, path, entry, result.value);
      return;
    }
    throw new KeyError(
      KeyErrorCode.FILE_UNREADABLE,
      `cannot examine directory ${entry} above ${subject} ${path}: ${errnoCode(result.reason) ?? 'I/O error'}`,
      { path, cause: result.reason },
    );
  });
}

function checkDirectory(subject: SafetySubject, path: string, directory: string, stats: OwnerAndMode): void {
  if (!ownerOk(stats.uid)) throw ownerError(subject, path, stats.uid, 'directory', directory);
  if ((stats.mode & S_IWGRP_IWOTH) === 0) return;
  // /tmp: others may add entries but not rename or remove ours (see the file comment).
  if ((stats.mode & S_ISVTX) !== 0) return;
  throw new KeyError(
    KeyErrorCode.PERMISSIONS,
    `directory ${directory}, which holds ${subject} ${path}, is writable by group or others ` +
      `(mode ${octal(stats.mode)}), so anyone who can write it can replace the file and decide which ` +
      `keys secsess trusts; run \`chmod go-w ${directory}\``,
    { path },
  );
}
