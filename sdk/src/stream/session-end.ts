/**
 * How a session ends: our End (half-close) and the peer's, our authenticated close and its
 * echo, the peer's close, failure (one
 * `'error'`, only if listened to), the end and close of the transport (then `'close'`,
 * always, exactly once), and the error operations meet once it is over.
 *
 * `read()` resolves null after a normal close (code 1000, or the echo of our own close)
 * once the queue is empty; after any other end it rejects with the coded error
 * (PeerClosedError for another close code). Functions of the session's state
 * (session-core.ts): none is on the per-message path.
 */
import {
  CLOSE_NORMAL,
  ErrorCode,
  HandshakeError,
  PeerClosedError,
  SessionError,
  TimeoutError,
} from '../protocol/index.js';
import { debug, emitUncaught, warnListenerFailed } from '../common/debug.js';
import { CLOSE_ABNORMAL } from '../common/defaults.js';
import { noop } from '../common/deferred.js';
import type { SessionCore } from './session-core.js';
import { resumeTransport } from './session-flow.js';
import { observeClosed } from './session-observe.js';
import { toSessionError } from './session-util.js';

/** How `fail` ends the transport, and whether it emits `'error'`. */
export interface FailHow {
  readonly destroy?: boolean;
  readonly quiet?: boolean;
}

/**
 * Ends the session because of `err`: sends the peer an alert when the core says one is
 * due, settles every pending operation with the error and ends (or destroys) the transport.
 */
export function fail(core: SessionCore, err: unknown, how: FailHow = {}): void {
  if (core.state === 'closed') {
    if (how.destroy) core.transport.destroy();
    return;
  }
  const error = toSessionError(err, core.state === 'handshake');
  core.state = 'closed';
  core.error = error;
  core.closeCode = CLOSE_ABNORMAL;
  core.closeReason = '';
  debug('session with %s failed: %s %s', core.label(), error.code, error.message);
  try {
    core.conn.fail(error);
  } catch (alertError) {
    debug('could not send alert: %s', (alertError as Error).message);
  }
  clearTimers(core);
  core.settleReady?.reject(error);
  core.settleReady = null;
  core.inbound.end(error);
  core.writer.fail(error);
  if (how.destroy) core.transport.destroy();
  else endTransport(core);
  const session = core.session;
  if (!how.quiet && session.listenerCount('error') > 0) session.emit('error', error);
}

/** Sends our authenticated close; the peer's echo (or `closeTimeout`) ends the session. */
export function sendClose(core: SessionCore, code: number, reason: string): void {
  // Marked closing first: a synchronous peer's echo may arrive inside conn.close().
  core.localClose = { code, reason };
  core.state = 'closing';
  try {
    core.conn.close(code, reason);
  } catch (err) {
    fail(core, err);
    return;
  }
  awaitEcho(core);
}

/**
 * Sends our End after everything already written (the caller checked the session is open
 * and had not ended). If the peer has ended too, the core follows it with Close 1000: the
 * session is then closing, as after `close()`.
 */
export function sendEnd(core: SessionCore): void {
  core.writableEnded = true;
  core.writer.flush();
  if (core.state !== 'open') return;
  const both = core.readableEnded;
  if (both) {
    core.localClose = { code: CLOSE_NORMAL, reason: '' };
    core.state = 'closing';
  }
  try {
    core.conn.end();
  } catch (err) {
    fail(core, err);
    return;
  }
  if (both) awaitEcho(core);
}

/**
 * The peer's End arrived: `read()` gives null once the queue is read, and `'end'` is
 * emitted once it is (see {@link emitEndIfDue}). If we had ended too, the core has just
 * sent Close 1000 and the session is closing.
 */
export function peerEnded(core: SessionCore): void {
  core.readableEnded = true;
  core.inbound.end(null);
  debug('%s ended its messages', core.label());
  if (core.state === 'open' && core.conn.state === 'closing') {
    core.localClose = { code: CLOSE_NORMAL, reason: '' };
    core.state = 'closing';
    awaitEcho(core);
  }
  emitEndIfDue(core);
}

/**
 * Emits `'end'` if it is due and someone can receive it, as a Readable's 'end' follows its
 * last chunk: once the peer's End has arrived and every message before it was handed over
 * (to `'message'` listeners or `read()`: the queue is empty). With no `'end'` listener yet
 * it waits for one (the session emits it when one is added), so a listener added after the
 * End arrived — the server's `'session'` listener, called after the handshake whose last
 * read brought the request and the End too — still gets it. Exactly once.
 */
export function emitEndIfDue(core: SessionCore): void {
  if (core.endEmitted || !core.readableEnded || core.inbound.length > 0) return;
  const session = core.session;
  if (session.listenerCount('end') === 0) return;
  core.endEmitted = true;
  emitUncaught(session, 'end');
}

/**
 * Our Close is sent: read on until the peer's echo. The peer can answer only once it has
 * read our Close, which may wait in the transport behind a reply it is still reading (a
 * half-close's answer, then End and Close): `closeTimeout` counts from when the Close has
 * been handed to the OS. Until then the keepalive goes on watching — without pings, which
 * may not follow a Close — so the idle timeout bounds a peer that does not read, as it
 * bounds a `write()` or `end()` waiting for the same bytes to drain.
 */
function awaitEcho(core: SessionCore): void {
  if (core.state !== 'closing') return;
  // The echo must be read even if the application stopped reading.
  resumeTransport(core);
  core.writer.flushed().then(() => closeSent(core), noop);
}

/** Our Close is in the OS: the peer has `closeTimeout` to answer it. */
function closeSent(core: SessionCore): void {
  if (core.state !== 'closing' || core.closeTimer) return;
  core.keepAlive.stop();
  const ms = core.options.closeTimeout;
  core.closeTimer = setTimeout(() => fail(core, new TimeoutError('close', ms), { destroy: true }), ms);
  core.closeTimer.unref();
}

/** The peer's authenticated close arrived (or its echo of ours). */
export function peerClosed(core: SessionCore, code: number, reason: string): void {
  const local = core.state === 'closing' ? core.localClose : null;
  core.state = 'closed';
  clearTimers(core);
  if (local) {
    core.closeCode = local.code;
    core.closeReason = local.reason;
    core.inbound.end(null);
  } else {
    core.closeCode = code;
    core.closeReason = reason;
    core.inbound.end(code === CLOSE_NORMAL ? null : new PeerClosedError(code, reason));
  }
  debug('session with %s closed (%d)', core.label(), core.closeCode);
  core.writer.end(() => closedError(core));
  endTransport(core);
}

/** The transport's readable side ended. */
export function transportEnded(core: SessionCore): void {
  if (core.state === 'closed') {
    endTransport(core);
    return;
  }
  fail(
    core,
    core.state === 'handshake'
      ? new HandshakeError(
          ErrorCode.HANDSHAKE,
          'handshake: the peer closed the connection before the handshake completed',
        )
      : new SessionError(
          ErrorCode.TRUNCATED,
          'the transport ended without an authenticated close: messages may be missing',
        ),
  );
}

export function transportFailed(core: SessionCore, err: Error): void {
  if (core.state === 'closed') {
    debug('transport error after close: %s', (err as NodeJS.ErrnoException).code ?? err.message);
    return;
  }
  fail(core, new SessionError(ErrorCode.TRANSPORT, `transport failed: ${err.message}`, { cause: err }), {
    destroy: true,
  });
}

/** The transport closed: the session is over; `closed` resolves and `'close'` is emitted. */
export function transportClosed(core: SessionCore): void {
  if (core.transportClosed) return;
  core.transportClosed = true;
  if (core.state !== 'closed') {
    fail(
      core,
      core.state === 'handshake'
        ? new HandshakeError(
            ErrorCode.HANDSHAKE,
            'handshake: the connection closed before the handshake completed',
          )
        : new SessionError(ErrorCode.TRUNCATED, 'the transport closed without an authenticated close'),
      { destroy: true },
    );
  }
  clearTimers(core);
  core.writer.fail(() => closedError(core));
  core.closedResolved = true;
  const session = core.session;
  const onClosed = core.onClosed;
  if (onClosed) {
    core.onClosed = null;
    queueMicrotask(() => onClosed(session));
  }
  core.resolveClosed?.();
  core.resolveClosed = null;
  observeClosed(core);
  session.emit('close', core.closeCode, core.closeReason);
}

/** Ends our side after the session is over; drops the transport if it lingers. */
export function endTransport(core: SessionCore): void {
  const t = core.transport;
  resumeTransport(core);
  if (!t.writableEnded && !t.destroyed) t.end();
  if (!core.transportClosed && !core.destroyTimer) {
    core.destroyTimer = setTimeout(() => t.destroy(), core.options.closeTimeout);
    core.destroyTimer.unref();
  }
}

export function clearTimers(core: SessionCore): void {
  core.keepAlive.stop();
  if (core.handshakeTimer) clearTimeout(core.handshakeTimer);
  if (core.closeTimer) clearTimeout(core.closeTimer);
  core.handshakeTimer = null;
  core.closeTimer = null;
  if (core.transportClosed && core.destroyTimer) {
    clearTimeout(core.destroyTimer);
    core.destroyTimer = null;
  }
}

/** What operations meet once the session is not open: ERR_SESSION_CLOSED (cause: the failure). */
export function closedError(core: SessionCore): SessionError {
  if (core.state === 'handshake') {
    return new SessionError(
      ErrorCode.SESSION_CLOSED,
      'session is not open yet: the handshake is not complete',
    );
  }
  const cause = core.error;
  return new SessionError(
    ErrorCode.SESSION_CLOSED,
    cause ? `session is closed (${cause.code}: ${cause.message})` : 'session is closed',
    cause ? { cause } : undefined,
  );
}

/** What `write()` meets once it may not write: ERR_WRITE_AFTER_END after `end()`, else {@link closedError}. */
export function notWritable(core: SessionCore): SessionError {
  return core.writableEnded
    ? new SessionError(
        ErrorCode.WRITE_AFTER_END,
        'write after end: this side has ended its messages (end() was called)',
      )
    : closedError(core);
}

/**
 * An async listener (of the session, or the server's `'session'` listener for it) rejected
 * with `err` (see `Session[kListenerRejected]`): fails the session if it is still open and
 * reports `err` as its `'error'`, or, when nobody listens there, as a process warning; the
 * session's own end surfacing through `read()`/`write()` is dropped (already reported).
 */
export function listenerRejected(core: SessionCore, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  debug('a listener of the session with %s rejected: %s', core.label(), message);
  if (core.state !== 'closed') {
    const listened = core.session.listenerCount('error') > 0;
    fail(core, err);
    if (listened) return;
  } else if (
    err instanceof SessionError &&
    (err === core.error || (err.code === ErrorCode.SESSION_CLOSED && err.cause === (core.error ?? undefined)))
  ) {
    return;
  }
  warnListenerFailed('a secsess session', err);
}

/**
 * `session.close()`: during the handshake the session fails (ERR_SESSION_CLOSED, quietly);
 * once open, what was written goes first, then the Close; otherwise nothing is left to do.
 */
export function requestClose(core: SessionCore, code: number, reason: string): void {
  if (core.state === 'handshake') {
    fail(core, new SessionError(ErrorCode.SESSION_CLOSED, 'session closed before the handshake completed'), {
      destroy: true,
      quiet: true,
    });
  } else if (core.state === 'open') {
    core.writer.flush();
    if (core.state === 'open') sendClose(core, code, reason);
  }
}
