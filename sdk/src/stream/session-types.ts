/**
 * A session's states and events, and the internal symbols through which the server and
 * `secureDuplex()` reach into a session (never part of the public API).
 */
import type { Buffer } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import type { SessionError } from '../protocol/index.js';

/** `'handshake'` → `'open'` → `'closing'` (our close sent) → `'closed'`. */
export type SessionState = 'handshake' | 'open' | 'closing' | 'closed';

/** Events of `Session`. */
export interface SessionEvents {
  /** One whole message (see the delivery rules on `Session`). */
  message: [data: Buffer];
  /**
   * The peer ended its messages (its End arrived, `readableEnded`), and every message it
   * sent before has been handed over (to `'message'` listeners or `read()`), as a
   * Readable's 'end' follows its last chunk. Emitted once; if no `'end'` listener is there
   * when it is due, it is emitted to the first one added. This side may go on writing
   * until it ends too.
   */
  end: [];
  /** The session failed. At most once, only if listened to, always followed by `'close'`. */
  error: [error: SessionError];
  /** The transport closed. `code` is the authenticated close code, or 1006 if there was none. */
  close: [code: number, reason: string];
}

/** @internal What the session's parts see of the public `Session`: its events. */
export type SessionEmitter = EventEmitter<SessionEvents>;

/**
 * @internal A server session's addresses as its load balancer's PROXY header gave them: the
 * client's, and the one it connected to. They stand in for the socket's (the balancer's).
 */
export interface ProxiedAddresses {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** @internal Settles when the handshake completes or fails. */
export const kReady = Symbol('secsess.ready');
/** @internal Whether a server session's ClientHello has arrived (and named a key we hold). */
export const kHelloReceived = Symbol('secsess.helloReceived');
/** @internal Ends a handshake with `error`: the core sends its plaintext alert, the transport is dropped. */
export const kAbortHandshake = Symbol('secsess.abortHandshake');
/** @internal A server session accepted by its server: sends the NewTicket its client asked for (§6a). */
export const kIssueTicket = Symbol('secsess.issueTicket');
/** @internal Fails the session with a given error (the server's authorization denial). */
export const kFail = Symbol('secsess.fail');
/** @internal Registers the one callback run when `closed` resolves, ahead of what waits on it. */
export const kOnClosed = Symbol('secsess.onClosed');
/**
 * @internal A listener of this session — or the server's `'session'` listener for it —
 * returned a promise that rejected with `error` (see `Session`'s `captureRejections`).
 */
export const kListenerRejected = Symbol('secsess.listenerRejected');
/**
 * @internal A copy of the open session's exporter (PROTOCOL.md §D9), or null: what a
 * datagram channel derives its keys from (sdk/src/datagram/channel.ts).
 */
export const kExporter = Symbol('secsess.exporter');
/** @internal The session is handed to the application (its `secsess:session:open`; see observe/). */
export const kOpened = Symbol('secsess.opened');
