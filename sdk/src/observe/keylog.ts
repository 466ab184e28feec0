/**
 * The key log (`SECSESS_KEYLOG_FILE`, PROTOCOL.md "Key log format"): NSS key log style
 * lines `LABEL <client_random hex> <secret hex>\n` appended to the file the variable names,
 * so a capture of the sessions can be decrypted (tools/wireshark). Off unless the variable
 * is set and not empty; the transports ask {@link keyLogFromEnv} once per session, so a
 * process (or a test) may set or unset it at any time.
 *
 * The file is opened in append mode for each line and created 0600 if absent (an existing
 * file's mode is left alone). A line is one `appendFileSync` of under 200 bytes (< PIPE_BUF):
 * with O_APPEND, concurrent processes interleave whole lines only. Each path warns once per
 * process on being used, and once on a failed write; a failed write never breaks a session.
 */
import type { Buffer } from 'node:buffer';
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import type { KeyLog } from '../protocol/key-log.js';

/** The environment variable naming the key log file. */
export const KEYLOG_ENV = 'SECSESS_KEYLOG_FILE';

const writers = new Map<string, KeyLog>();

/**
 * The key log writer for the file `SECSESS_KEYLOG_FILE` names now, or undefined when it is
 * unset or empty (then nothing is made and nothing is logged).
 */
export function keyLogFromEnv(): KeyLog | undefined {
  const path = process.env[KEYLOG_ENV];
  if (!path) return undefined;
  let writer = writers.get(path);
  if (!writer) {
    writer = makeWriter(path);
    writers.set(path, writer);
    process.emitWarning(
      `${KEYLOG_ENV} is set: session secrets are being written to ${path}; ` +
        'anyone who reads it can decrypt these sessions',
      { type: 'SecsessWarning', code: 'SECSESS_KEYLOG' },
    );
  }
  return writer;
}

function makeWriter(path: string): KeyLog {
  let failed = false;
  return (label: string, clientRandom: Buffer, secret: Buffer): void => {
    // Hex at once: nothing here keeps the core's buffers.
    const line = `${label} ${clientRandom.toString('hex')} ${secret.toString('hex')}\n`;
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
