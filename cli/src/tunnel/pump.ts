/**
 * The pump: one session joined to a byte stream (a TCP socket, or stdin/stdout), both ways,
 * on both sides of the tunnel.
 *
 * - Towards the session: each 'data' chunk is one `session.write()` (one message; the chunk
 *   is not copied or split here). While the session holds {@link HIGH_WATER} bytes or more
 *   unsent, the input is paused; the write that crossed the mark resumes it when it resolves.
 * - From the session: `read()` → `output.write()`; when the output is full, no message is
 *   read until 'drain' (unread messages then pause the session's own transport, so the peer
 *   is held back by TCP).
 * - Half-close: the input's EOF → `session.end()` (an authenticated End); the peer's End →
 *   `output.end()` (a FIN). Both ended → the session closes itself with 1000.
 * - A reset: an input or output error closes the session with {@link CLOSE_RESET}; a session
 *   that ends other than normally (an error, a close code other than 1000) resets the
 *   socket, so the program behind it never takes a cut stream for a complete one.
 */
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { PeerClosedError, SessionError, readBorrowed } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import type { ConnOutcome } from './conn-log.js';

/** Bytes the session may hold unsent before the input is paused. */
export const HIGH_WATER = 1024 * 1024;

/** Messages this large are given back to the session once written (`session.recycle`). */
const RECYCLE_MIN = 16384;

/** Close code of a session whose socket failed or was reset on this side. */
export const CLOSE_RESET = 4001;
/** Its reason. */
export const RESET_REASON = 'connection reset';

/** The byte stream a session is joined to: a socket is both. */
export interface PumpEnds {
  readonly input: Readable;
  readonly output: Writable;
  /**
   * Whether the peer's End ends `output` (default true). `serve --stdio` without `--once`
   * keeps stdout for the next session.
   */
  readonly endOutput?: boolean;
}

/** What went through a session, how it ended, and its error if it failed. */
export interface PumpResult extends ConnOutcome {
  /** The session's error, if it failed or the peer closed with a code other than 1000. */
  readonly error: SessionError | null;
}

function ignore(): void {}

/** Drops a stream: a TCP socket with a reset, anything else (a pipe, stdout) destroyed. */
function reset(stream: Readable | Writable): void {
  if (stream.destroyed) return;
  if (stream instanceof Socket) {
    try {
      stream.resetAndDestroy();
      return;
    } catch {
      // Not TCP (a pipe: stdin/stdout are Sockets too): there is no reset to send.
    }
  }
  stream.destroy();
}

/** Resolves at the output's next 'drain', or when it closes (at once if it is already gone). */
function drained(output: Writable): Promise<void> {
  return new Promise((resolve) => {
    // A destroyed output's 'close' has fired or is queued before we listen: never again.
    if (output.destroyed || output.closed || !output.writableNeedDrain) {
      resolve();
      return;
    }
    const done = (): void => {
      output.off('drain', done);
      output.off('close', done);
      resolve();
    };
    output.on('drain', done);
    output.on('close', done);
  });
}

/** Resolves once `socket` closed (both directions over, or destroyed). */
function socketClosed(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/**
 * Joins `session` to `ends` until both are over. Resolves (never rejects) once the session
 * closed and the output is done.
 */
export function pump(session: Session, ends: PumpEnds): Promise<PumpResult> {
  const { input, output } = ends;
  /** A socket is both ends. */
  const socket = (input as unknown) === output;
  const endOutput = ends.endOutput ?? true;
  let sent = 0;
  let received = 0;
  let failure: SessionError | null = null;
  let paused = false;
  let inputEnded = false;

  const resume = (): void => {
    paused = false;
    if (!inputEnded) input.resume();
  };
  const onData = (chunk: Buffer): void => {
    sent += chunk.length;
    const written = session.write(chunk);
    if (!paused && session.bufferedAmount >= HIGH_WATER) {
      paused = true;
      input.pause();
      written.then(resume, ignore);
    }
  };
  const onEnd = (): void => {
    inputEnded = true;
    void session.end().catch(ignore);
  };
  const onStreamError = (): void => {
    if (session.state === 'open') void session.close(CLOSE_RESET, RESET_REASON).catch(ignore);
  };
  const onSessionError = (err: SessionError): void => {
    failure ??= err;
  };
  // A stream that closes before its EOF (destroyed, reset) takes the session with it.
  const onClose = (): void => {
    if (!inputEnded) onStreamError();
  };
  session.on('error', onSessionError);
  // A socket from borrowReads (connect's listener) reads into the shared buffer: each chunk
  // is only valid during onData, which session.write() allows (it copies or seals at once).
  const stopReading = readBorrowed(input, onData);
  input.on('end', onEnd);
  input.on('error', onStreamError);
  input.on('close', onClose);
  if (!socket) output.on('error', onStreamError);
  // Paused until now (pauseOnConnect, or by an earlier session of stdin); or already at EOF.
  if (input.readableEnded) onEnd();
  else input.resume();

  // stdout's flags are not to be relied on (it cannot really close): end()'s callback is.
  let outputEnded = Promise.resolve();
  const down = async (): Promise<void> => {
    for (;;) {
      const message = await session.read();
      if (message === null) break;
      received += message.length;
      // Reset or failed (the session is closing with CLOSE_RESET): nowhere left to write.
      if (output.destroyed) throw new Error('output destroyed');
      // A large message's memory serves the session again once written (a socket's or
      // stdout's callback: the bytes are with the OS by then).
      const room =
        message.length >= RECYCLE_MIN
          ? output.write(message, (err?: Error | null) => {
              if (!err) session.recycle(message);
            })
          : output.write(message);
      if (!room) await drained(output);
    }
    // null also follows OUR OWN close (the drain deadline's 1001, a reset's 4001): only the
    // peer's End or a 1000 close means the stream is complete; a cut one is reset, no FIN.
    if (!session.readableEnded && session.closeCode !== 1000) throw new Error('session cut');
    if (endOutput) outputEnded = new Promise((resolve) => output.end(() => resolve()));
  };
  const downDone = down().catch((err: unknown) => {
    if (err instanceof SessionError) failure ??= err;
    reset(output);
    if (!socket) input.pause();
  });

  return (async () => {
    await session.closed;
    // Ended other than normally (the drain deadline, a reset, an error): what is still unwritten
    // is cut anyway, so do not wait for a program that may never read it (SIGTERM would hang).
    if (session.closeCode !== 1000) reset(output);
    await downDone;
    // The session is over: whatever the input still sends has nowhere to go.
    stopReading();
    input.off('end', onEnd);
    input.off('close', onClose);
    if (!inputEnded) {
      if (socket && output.writableEnded && !output.writableFinished) {
        output.once('finish', () => input.destroy());
      } else if (socket || endOutput) {
        input.destroy();
      } else {
        input.pause();
      }
    }
    if (socket) await socketClosed(output as Socket);
    else await outputEnded;
    session.off('error', onSessionError);
    // Kept until now: an error after the end must not be unhandled.
    input.off('error', onStreamError);
    if (!socket) output.off('error', onStreamError);
    // Set by the callbacks above: TypeScript's narrowing does not see them.
    const error = failure as SessionError | null;
    const ended =
      error !== null && !(error instanceof PeerClosedError)
        ? { close: error.code as string, reason: error.message }
        : { close: session.closeCode ?? 1006, reason: session.closeReason ?? '' };
    return { sent, received, ...ended, error };
  })();
}
