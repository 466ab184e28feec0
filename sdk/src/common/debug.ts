/**
 * Debug output for the transport layer: `NODE_DEBUG=secsess node app.js` (the CLI too:
 * `NODE_DEBUG=secsess secsess-keygen probe host:port`). Lines name the role, the endpoints,
 * the suite, key fingerprints (`SHA256:…`, public by nature), trust decisions, refusals
 * with their limit, close codes and reasons, and errors with their codes. Key material,
 * plaintext and traffic secrets never reach this log.
 *
 * One line comes from the core, which imports nothing from here: protocol/aead.ts logs under
 * the same `secsess` section, once per process, each AEAD cipher's backend and why
 * (`crypto: AEAD backends: …`).
 */
import { debuglog } from 'node:util';
import type { PublicKey } from '@secsess/keys';
import type { SessionError, Suite } from '../protocol/index.js';
import type { EventEmitter } from 'node:events';

export const debug = debuglog('secsess');

/** What a debug line shows of a session (structural: common/ does not import stream/). */
export interface DebugSession {
  readonly suite: Suite | null;
  readonly serverKey: PublicKey | null;
  readonly clientKey: PublicKey | null;
  readonly resumed: boolean;
  once(event: 'close', listener: (code: number, reason: string) => void): unknown;
}

/** `RSA/AES-256-CBC/SHA-256`. */
export function suiteName(suite: Suite | null): string {
  return suite ? `${suite.asymmetric}/${suite.symmetric}/${suite.hash}` : 'none';
}

/** A key's fingerprint, or `none`. */
export function fingerprintOf(key: PublicKey | null | undefined): string {
  return key ? key.fingerprint() : 'none';
}

/**
 * Logs an established session (role, endpoints, suite, both keys' fingerprints) and, once
 * it ends, its close code and reason. Does nothing unless the log is enabled.
 */
export function debugSession(
  role: 'client' | 'server',
  session: DebugSession,
  local: string,
  remote: string,
): void {
  if (!debug.enabled) return;
  debug(
    '%s: session open, local %s, remote %s, suite %s, server key %s, client key %s%s',
    role,
    local,
    remote,
    suiteName(session.suite),
    fingerprintOf(session.serverKey),
    fingerprintOf(session.clientKey),
    session.resumed ? ', resumed' : '',
  );
  session.once('close', (code, reason) =>
    debug('%s: session with %s closed, code %d%s', role, remote, code, reason ? `, reason "${reason}"` : ''),
  );
}

/** An error as a debug line shows it: its code and message (messages never hold secrets). */
export function describeError(err: unknown): string {
  const e = err as Partial<SessionError> | null;
  if (e && typeof e === 'object' && typeof e.code === 'string') return `${e.code} (${e.message ?? ''})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reports a rejected async listener that has nowhere else to go (no `'error'` listener) as a
 * process warning of type `SecsessWarning`: printed, never thrown, so one client's session
 * never takes the process down. `of` names whose listener failed.
 */
export function warnListenerFailed(of: string, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  process.emitWarning(`a listener of ${of} failed: ${message}`, {
    type: 'SecsessWarning',
    detail: err instanceof Error ? err.stack : undefined,
  });
}

/** Throws `err` on the next tick: uncaught, as Node reports a listener's exception. */
export function throwLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

/**
 * Emits `event`; a listener that throws is the application's bug, reported as Node reports
 * any listener's exception (uncaught, on the next tick) and never thrown into the secsess
 * code that emitted (a socket handler, a `close()` caller). Returns what `emit` returned
 * (true when a listener threw).
 */
export function emitUncaught(emitter: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
  try {
    return emitter.emit(event, ...args);
  } catch (err) {
    throwLater(err);
    return true;
  }
}
