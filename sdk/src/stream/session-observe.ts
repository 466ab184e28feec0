/**
 * A stream session's side of the diagnostics channels (observe/stream-session.ts): its open
 * when the session is handed to the application, its close if it was opened, and its key
 * updates. `openedAt` is set whether or not anyone subscribes (one clock read per session),
 * so a subscriber that arrives later still sees the right duration.
 */
import { ServerConnection } from '../protocol/index.js';
import type { Role } from '../observe/channels.js';
import { keyUpdateChannel, sessionCloseChannel } from '../observe/channels.js';
import { publishKeyUpdate, publishStreamClose, publishStreamOpen } from '../observe/stream-session.js';
import type { HandshakeTrace, ObservedCounts, ObservedSession } from '../observe/stream-session.js';
import type { SessionCore } from './session-core.js';
import type { Session } from './session.js';
import { kOpened } from './session-types.js';

export { traceHandshake } from '../observe/stream-session.js';

/**
 * A session handed to the application (by Server, Client, secureDuplex): its handshake
 * trace, if any, ends in success, then the session is open for the channels. A session
 * that closed while its owner awaited (trust confirmation, authorization) is not: its trace
 * fails with ERR_SESSION_CLOSED and no open is published (no close would follow). False then.
 */
export function opened(session: Session, trace: HandshakeTrace | null): boolean {
  return session[kOpened](trace);
}

type Observed = ObservedSession & { readonly stats: ObservedCounts };

function roleOf(core: SessionCore): Role {
  return core.conn instanceof ServerConnection ? 'server' : 'client';
}

/**
 * The session is handed to the application: it is open for the channels from now on, unless
 * its `'close'` was emitted already (then no close would follow an open). A session whose
 * close is still to come is opened: a Server hands such a one on, to read what it got.
 */
export function observeOpened(core: SessionCore, trace: HandshakeTrace | null): boolean {
  if (core.closedResolved) {
    trace?.fail(null);
    return false;
  }
  trace?.succeed(core.session as unknown as ObservedSession);
  if (core.openedAt >= 0) return true;
  core.openedAt = performance.now();
  publishStreamOpen(core.session as unknown as ObservedSession, roleOf(core));
  return true;
}

/** The session's `'close'` is being emitted: its `secsess:session:close`, if it was opened. */
export function observeClosed(core: SessionCore): void {
  if (core.openedAt < 0 || !sessionCloseChannel.hasSubscribers) return;
  publishStreamClose(
    core.session as unknown as Observed,
    roleOf(core),
    core.openedAt,
    core.closeCode,
    core.closeReason,
    core.error,
  );
}

/**
 * A KeyUpdate was sent (`'send'`) or received (`'receive'`): that direction's keys are
 * `generation`. Published in a microtask, once the core's call has returned: the core calls
 * this mid-send (its batch of queued messages being sealed, then wiped), and a subscriber
 * that writes to the session must not re-enter it there.
 */
export function observeKeyUpdate(core: SessionCore, direction: 'send' | 'receive', generation: number): void {
  if (!keyUpdateChannel.hasSubscribers) return;
  queueMicrotask(() => publishKeyUpdate(core.session, roleOf(core), 'stream', direction, generation));
}
