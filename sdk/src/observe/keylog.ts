/**
 * The key log (`SECSESS_KEYLOG_FILE`, PROTOCOL.md "Key log format"): NSS key log style
 * lines `LABEL <client_random hex> <secret hex>\n` appended to the file the variable names,
 * so a capture of the sessions can be decrypted (tools/wireshark). Off unless the variable
 * is set and not empty; the transports ask for a writer once per session (stream session,
 * datagram handshake, datagram channel), so a process may set or unset it at any time.
 *
 * The file is opened in append mode for each line and created 0600 if absent (an existing
 * file's mode is left alone). A line is one `appendFileSync` of at most 224 bytes (< PIPE_BUF):
 * with O_APPEND, concurrent processes interleave whole lines only. Each path warns once per
 * process on first use, and once on a failed write; a failed write never breaks a session.
 */
import type { Buffer } from 'node:buffer';
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { CHANNEL_LABELS } from '../protocol/key-log.js';
import type { KeyLog } from '../protocol/key-log.js';

/** The environment variable naming the key log file. */
export const KEYLOG_ENV = 'SECSESS_KEYLOG_FILE';

/** One line to one file: client_random already in hex. */
type LineWriter = (label: string, randomHex: string, secret: Buffer) => void;

const writers = new Map<string, LineWriter>();
/**
 * The client_random (hex) of each logged stream session, for the lines of its datagram
 * channel (§D9), whose own handshake has none. Weak: a session's entry goes with it.
 */
const streamRandoms = new WeakMap<object, string>();

/** The writer for the file the variable names now; undefined when it is unset or empty. */
function currentWriter(): LineWriter | undefined {
  const path = process.env[KEYLOG_ENV];
  if (!path) return undefined;
  let writer = writers.get(path);
  if (!writer) {
    writer = lineWriter(path);
    writers.set(path, writer);
    process.emitWarning(
      `${KEYLOG_ENV} is set: session secrets are being written to ${path}; ` +
        'anyone who reads it can decrypt these sessions',
      { type: 'SecsessWarning', code: 'SECSESS_KEYLOG' },
    );
  }
  return writer;
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

function lineWriter(path: string): LineWriter {
  let failed = false;
  return (label, randomHex, secret) => {
    // Hex at once: nothing here keeps the core's buffers.
    const line = `${label} ${randomHex} ${secret.toString('hex')}\n`;
    try {
      appendFileSync(path, line, { mode: 0o600 });
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
