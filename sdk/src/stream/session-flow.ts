/**
 * A session's flow control on the receiving side: reading paused while unread messages are
 * at `readableHighWaterMark` (backpressure from the application), and stalled while the peer
 * does not read the replies it makes us write (a Pong for each Ping). What the peer makes
 * the protocol write obeys the same bounds as `write()`: when such a reply finds the
 * transport above its high-water mark, reading stops until the transport drains (TCP then
 * holds the peer's further records in its own buffers); a reply that finds
 * `maxBufferedAmount` unsent fails the session with ERR_BUFFER_FULL. Time stalled so is not
 * backpressure from our side: the idle timer keeps running, and a peer that has not read
 * for `idleTimeout` fails with ERR_BUFFER_FULL.
 *
 * Functions of the session's state (session-core.ts), called off the per-message path:
 * when the queue crosses the mark, on `read()`, on a reply, on 'drain'.
 */
import { ErrorCode, SessionError } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import type { SessionCore } from './session-core.js';

/** Unread messages reached the high-water mark: stop reading until reads bring them below. */
export function pauseReading(core: SessionCore): void {
  core.paused = true;
  core.transport.pause();
  core.keepAlive.suspend(true);
  debug('paused reading from %s: %d bytes unread', core.label(), core.inbound.bytes);
}

/** Reads again if reading was paused and the queue is below the mark (after a `read()`). */
export function maybeResume(core: SessionCore): void {
  if (core.paused && core.inbound.cost < core.options.readableHighWaterMark) {
    core.paused = false;
    core.keepAlive.suspend(false);
    // Still stalled (the peer does not read our replies): the drain resumes.
    if (core.stalled) return;
    debug('resumed reading from %s', core.label());
    core.transport.resume();
  }
}

/** Reads again whatever paused reading: the session is ending, and its last records must be read. */
export function resumeTransport(core: SessionCore): void {
  core.stalled = false;
  if (core.paused) {
    core.paused = false;
    core.keepAlive.suspend(false);
  }
  core.transport.resume();
}

/**
 * The core wrote a reply the peer's record required, and it fit under `maxBufferedAmount`:
 * if it found the transport above its high-water mark, the peer is not reading what it
 * makes us write; stop reading from it until the transport drains.
 */
export function stallIfUnread(core: SessionCore): void {
  const t = core.transport;
  if (!core.stalled && t.writableNeedDrain) {
    core.stalled = true;
    t.pause();
    debug('stalled reading from %s: %d bytes unsent', core.label(), t.writableLength);
  }
}

/** The transport drained: a stalled session reads again (unless paused or over). */
export function unstall(core: SessionCore): void {
  core.stalled = false;
  if (core.paused || core.state === 'closed') return;
  debug('resumed reading from %s: replies drained', core.label());
  core.transport.resume();
}

/** ERR_BUFFER_FULL for a `write()` (no `what`) or for replies the peer asked for. */
export function bufferFull(core: SessionCore, what?: string): SessionError {
  const unsent = core.writer.bufferedAmount;
  const max = core.options.maxBufferedAmount;
  return new SessionError(
    ErrorCode.BUFFER_FULL,
    what
      ? `write buffer full: the peer does not read; ${unsent} bytes not yet sent with ${what} ` +
          `(maxBufferedAmount ${max})`
      : `write buffer full: ${unsent} bytes not yet sent ` +
          `(maxBufferedAmount ${max}); wait for write() before writing more`,
  );
}

/** The peer kept us stalled (it does not read the replies it asks for) for `idleTimeout`. */
export function stallTimedOut(core: SessionCore): SessionError {
  return new SessionError(
    ErrorCode.BUFFER_FULL,
    `the peer does not read: ${core.transport.writableLength} bytes unsent, and nothing read from it ` +
      `for ${core.options.idleTimeout} ms (idleTimeout) while it waits for the replies it asked for`,
  );
}
