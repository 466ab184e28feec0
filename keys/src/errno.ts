/** System-error helpers shared by the files that read and write key and store files. */

/** The `code` of a Node system error (`ENOENT`, `EACCES`…), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/** Why a file could not be written, in words for an error message. */
export function writeFailureReason(error: unknown): string {
  const code = errnoCode(error);
  return code === 'ENOENT'
    ? 'its directory does not exist'
    : code === 'ENOTDIR'
      ? 'a parent of it is not a directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : (code ?? 'I/O error');
}
