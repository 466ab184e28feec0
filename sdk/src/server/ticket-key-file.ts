/**
 * Ticket-key files: the ticket keys a server (or a fleet of servers) seals resumption tickets
 * under, kept in a text file so that every process that shares it accepts the tickets of the
 * others (PROTOCOL.md "Resumption"; `ServerOptions.tickets`).
 *
 * Format: UTF-8 text, one key per line as the base64 of exactly 32 bytes; lines starting
 * with `#` and blank lines are ignored; the first key issues tickets, every key is accepted;
 * 1 to 16 keys. Anything else is refused with the line's number — never its content, which
 * may be a key. The file is a secret like a private key: written atomically with mode 0600,
 * and refused when group or others may read it.
 */
import { randomBytes } from 'node:crypto';
import { checkPrivateKeyPermissions, KeyError, KeyErrorCode, readKeyFile, writeKeyFile } from '@secsess/keys';
import { TICKET_KEY_SIZE, TicketKey } from '../protocol/index.js';
import { MAX_TICKET_KEYS } from './tickets.js';

/** Bytes of a ticket key. */
export const TICKET_KEY_BYTES = TICKET_KEY_SIZE;

const SUBJECT = 'ticket-key file';
/** Canonical base64 of 32 bytes: 43 characters, the last carrying 2 zero bits, and one `=`. */
const KEY_LINE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** A new ticket key: 32 bytes from `node:crypto`'s CSPRNG. */
export function generateTicketKey(): Buffer {
  return randomBytes(TICKET_KEY_BYTES);
}

/**
 * The name of ticket key `key`, as hex: `HKDF-SHA256(K, "", "secsess v1 ticket name", 8)`,
 * the first 8 bytes of every ticket sealed under it. Safe to print or log (it reveals
 * nothing of the key); `secsess-keygen ticket-key` shows it.
 *
 * @throws TypeError when `key` is not 32 bytes
 */
export function ticketKeyName(key: Uint8Array): string {
  checkKey(key, 'key');
  return TicketKey.from(key).name.toString('hex');
}

function checkKey(key: unknown, name: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== TICKET_KEY_BYTES) {
    throw new TypeError(`${name} must be a Uint8Array of ${TICKET_KEY_BYTES} bytes`);
  }
}

function formatError(path: string, what: string): KeyError {
  return new KeyError(KeyErrorCode.FORMAT, `${SUBJECT} ${path}: ${what}`, { path });
}

/**
 * Parses a ticket-key file's bytes. Exported for tests and for keys read elsewhere; the
 * messages name `path` and a line number, never a line's content.
 *
 * @throws KeyError `ERR_KEY_FORMAT`
 */
export function parseTicketKeys(data: Uint8Array, path: string): Buffer[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw formatError(path, 'not UTF-8 text');
  }
  const keys: Buffer[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').trim();
    const number = index + 1;
    if (line === '' || line.startsWith('#')) continue;
    if (!KEY_LINE.test(line)) {
      throw formatError(path, `line ${number} is not a ticket key (base64 of ${TICKET_KEY_BYTES} bytes)`);
    }
    const first = seen.get(line);
    if (first !== undefined) throw formatError(path, `line ${number} repeats the key of line ${first}`);
    if (keys.length === MAX_TICKET_KEYS) {
      throw formatError(path, `line ${number} is a key past the limit of ${MAX_TICKET_KEYS} keys`);
    }
    seen.set(line, number);
    keys.push(Buffer.from(line, 'base64'));
  }
  if (keys.length === 0) throw formatError(path, 'holds no ticket key');
  return keys;
}

/**
 * Reads a ticket-key file: its keys, the issuing key first. The file is checked as a private
 * key is: at most 1 MiB, not accessible by group or others (not checked on Windows).
 *
 * @throws KeyError `ERR_KEY_FILE_NOT_FOUND`, `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_PERMISSIONS`,
 *   `ERR_KEY_FORMAT` (naming the line)
 */
export async function readTicketKeyFile(path: string): Promise<Buffer[]> {
  const { data, mode } = await readKeyFile(path);
  try {
    checkPrivateKeyPermissions(path, mode, SUBJECT);
    return parseTicketKeys(data, path);
  } finally {
    data.fill(0);
  }
}

/** Options of {@link writeTicketKeyFile}. */
export interface WriteTicketKeyFileOptions {
  /** Replace an existing file (rotation does). Default `false`: `ERR_KEY_FILE_EXISTS`. */
  readonly force?: boolean;
}

/**
 * Writes `keys` (the issuing key first, 1 to 16 keys of 32 bytes, no repeats) to a
 * ticket-key file: atomically (a temporary file, fsync, rename) with mode 0600, after a
 * comment line that says what the file is.
 *
 * @throws TypeError for keys of the wrong type or size, or repeated; RangeError for 0 or more
 *   than 16 keys; KeyError `ERR_KEY_FILE_EXISTS`, `ERR_KEY_FILE_UNWRITABLE`
 */
export async function writeTicketKeyFile(
  path: string,
  keys: readonly Uint8Array[],
  options: WriteTicketKeyFileOptions = {},
): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  if (!Array.isArray(keys)) throw new TypeError('keys must be an array of ticket keys');
  if (keys.length < 1 || keys.length > MAX_TICKET_KEYS) {
    throw new RangeError(`keys must hold from 1 to ${MAX_TICKET_KEYS} ticket keys, got ${keys.length}`);
  }
  const lines = ['# secsess ticket keys: the first issues tickets, all are accepted. Keep secret.'];
  const seen = new Set<string>();
  keys.forEach((key: unknown, index) => {
    checkKey(key, `keys[${index}]`);
    const line = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
    if (seen.has(line)) throw new TypeError(`keys[${index}] repeats an earlier key`);
    seen.add(line);
    lines.push(line);
  });
  const data = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
  try {
    await writeKeyFile(path, data, { mode: 0o600, force: options.force === true });
  } finally {
    data.fill(0);
  }
}
