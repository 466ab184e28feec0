import { readFile } from 'node:fs/promises';
import { CliError, CliErrorCode } from './errors.js';

/**
 * Reads a passphrase from a file: its bytes with one trailing newline (LF or CRLF) removed,
 * so `echo secret > F` works. The passphrase never appears in messages.
 *
 * @param option - the option name, for messages (`--passphrase-file`)
 */
export async function readPassphraseFile(path: string, option: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (cause) {
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
    const reason =
      code === 'ENOENT' ? 'does not exist; check the path' : `cannot be read (${code || 'I/O error'})`;
    throw new CliError(CliErrorCode.PASSPHRASE_FILE, `${option} ${path} ${reason}`, { cause });
  }
  let end = data.length;
  if (data[end - 1] === 0x0a) end--;
  if (data[end - 1] === 0x0d) end--;
  if (end === 0) {
    throw new CliError(
      CliErrorCode.PASSPHRASE_FILE,
      `${option} ${path} is empty; write the passphrase into it`,
    );
  }
  return data.subarray(0, end);
}
