/**
 * The key log (`SECSESS_KEYLOG_FILE`, PROTOCOL.md "Key log format"): NSS key log style
 * lines `LABEL <client_random hex> <secret hex>\n` appended to the file the variable names,
 * so a capture of the sessions can be decrypted (tools/wireshark). Off unless the variable
 * is set and not empty; the transports ask for a writer once per session (stream session,
 * datagram handshake, datagram channel), so a process may set or unset it at any time.
 *
 * Each path is opened once per process, on first use (O_APPEND|O_CREAT|O_NOFOLLOW, created
 * 0600), and kept open; it is refused (one warning, nothing logged to it) unless the opened
 * file is a regular file owned by this process's effective user that neither group nor
 * others may access: another local user's file, a symlink or a FIFO planted at the path
 * (`/tmp/…`) gets no secret. A line is one `writeSync` of at most 224 bytes (< PIPE_BUF):
 * with O_APPEND, concurrent processes interleave whole lines only. Each path warns once per
 * process on first use, and once on a failed write; a failed write never breaks a session.
 */
import { Buffer } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import process from 'node:process';
import { CHANNEL_LABELS } from '../protocol/key-log.js';
import type { KeyLog } from '../protocol/key-log.js';

/** The environment variable naming the key log file. */
export const KEYLOG_ENV = 'SECSESS_KEYLOG_FILE';

/** One line to one file: client_random already in hex. */
type LineWriter = (label: string, randomHex: string, secret: Buffer) => void;

/** Each path's writer, once opened; null: refused (unsafe or not opened), nothing logged. */
const writers = new Map<string, LineWriter | null>();
/**
 * The client_random (hex) of each logged stream session, for the lines of its datagram
 * channel (§D9), whose own handshake has none. Weak: a session's entry goes with it.
 */
const streamRandoms = new WeakMap<object, string>();

/** The writer for the file the variable names now; undefined when it is unset, empty or refused. */
function currentWriter(): LineWriter | undefined {
  const path = process.env[KEYLOG_ENV];
  if (!path) return undefined;
  let writer = writers.get(path);
  if (writer === undefined) {
    writer = openKeyLog(path);
    writers.set(path, writer);
    if (writer) {
      process.emitWarning(
        `${KEYLOG_ENV} is set: session secrets are being written to ${path}; ` +
          'anyone who reads it can decrypt these sessions',
        { type: 'SecsessWarning', code: 'SECSESS_KEYLOG' },
      );
    }
  }
  return writer ?? undefined;
}

/** A core's `keyLog` for a datagram handshake, or undefined (nothing logged, nothing made). */
export function keyLogFromEnv(): KeyLog | undefined {
  const writer = currentWriter();
  if (!writer) return undefined;
  return (label, clientRandom, secret) => writer(label, clientRandom.toString('hex'), secret);
}

/**
 * A stream connection's `keyLog` for `session`, or undefined: also remembers the session's
 * client_random, for its datagram channel's lines ({@link logChannelSecrets}).
 */
export function streamKeyLog(session: object): KeyLog | undefined {
  const writer = currentWriter();
  if (!writer) return undefined;
  return (label, clientRandom, secret) => {
    const random = clientRandom.toString('hex');
    streamRandoms.set(session, random);
    writer(label, random, secret);
  };
}

/**
 * The epoch-0 secrets of the datagram channel made from `stream` (§D9), under the stream
 * session's client_random; nothing unless the variable is set and the stream session was logged.
 */
export function logChannelSecrets(stream: object, c2s: Buffer, s2c: Buffer): void {
  const random = streamRandoms.get(stream);
  if (random === undefined) return;
  const writer = currentWriter();
  if (!writer) return;
  writer(CHANNEL_LABELS[0], random, c2s);
  writer(CHANNEL_LABELS[1], random, s2c);
}

/** Flags of the one open(2): O_NOFOLLOW refuses a symlink, O_NONBLOCK a FIFO with no reader. */
const OPEN_FLAGS =
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_CREAT |
  (constants.O_NOFOLLOW ?? 0) |
  (constants.O_NONBLOCK ?? 0);

/**
 * Why the opened file must not get secrets, or undefined if it may: a regular file with one
 * name, owned by this process's effective user, no access for group or others. Where there is no
 * `geteuid` (Windows) owner and mode bits mean nothing (ACLs decide), so only the type is
 * checked.
 */
export function unsafeKeyLog(stats: Stats, euid = process.geteuid?.()): string | undefined {
  if (!stats.isFile()) return 'it is not a regular file';
  // A second name for the file (a hard link planted in a shared folder) would have our lines
  // appended to a file of ours chosen by someone else.
  if (stats.nlink > 1) return `it has ${stats.nlink} names (hard links)`;
  if (euid === undefined) return undefined;
  if (stats.uid !== euid) return `it is owned by uid ${stats.uid}, not by this process (uid ${euid})`;
  if ((stats.mode & 0o077) !== 0) {
    return `its mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')} lets group or others read it (chmod 600 it)`;
  }
  return undefined;
}

/** Opens `path` for the key log and checks it; null (after one warning) if refused. */
function openKeyLog(path: string): LineWriter | null {
  let fd: number | undefined;
  try {
    fd = openSync(path, OPEN_FLAGS, 0o600);
    const why = unsafeKeyLog(fstatSync(fd));
    if (why !== undefined) {
      closeSync(fd);
      refuse(path, why, 'SECSESS_KEYLOG_UNSAFE');
      return null;
    }
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    const code = (err as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a symlink: ELOOP (EMLINK on FreeBSD); a FIFO without a reader: ENXIO.
    if (code === 'ELOOP' || code === 'EMLINK') refuse(path, 'it is a symbolic link', 'SECSESS_KEYLOG_UNSAFE');
    else if (code === 'ENXIO') refuse(path, 'it is not a regular file', 'SECSESS_KEYLOG_UNSAFE');
    else refuse(path, (err as Error).message, 'SECSESS_KEYLOG_FAILED');
    return null;
  }
  return lineWriter(path, fd);
}

function refuse(path: string, why: string, code: string): void {
  process.emitWarning(
    `${KEYLOG_ENV}: not writing session secrets to ${path}: ${why}; sessions go on unlogged`,
    {
      type: 'SecsessWarning',
      code,
    },
  );
}

function lineWriter(path: string, fd: number): LineWriter {
  let failed = false;
  return (label, randomHex, secret) => {
    // Hex at once: nothing here keeps the core's buffers.
    const line = Buffer.from(`${label} ${randomHex} ${secret.toString('hex')}\n`, 'latin1');
    try {
      // One write(2) per line: with O_APPEND the kernel puts it whole at the end.
      const written = writeSync(fd, line);
      if (written !== line.length) throw new Error(`short write (${written} of ${line.length} bytes)`);
    } catch (err) {
      if (failed) return;
      failed = true;
      process.emitWarning(
        `${KEYLOG_ENV}: cannot write to ${path} (${(err as Error).message}); sessions go on unlogged`,
        { type: 'SecsessWarning', code: 'SECSESS_KEYLOG_FAILED' },
      );
    }
  };
}
