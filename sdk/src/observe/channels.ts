/**
 * The diagnostics channels secsess publishes on (`node:diagnostics_channel`, as Node's own
 * `net`, `http` and undici do). Their names and payloads are a stable API: README
 * "Observability" lists them. Payloads carry roles, endpoints, suites, key fingerprints,
 * codes and sizes — never key material, secrets or plaintext.
 *
 * Nothing is built unless somebody subscribes: every publisher checks `hasSubscribers`
 * first (the bench's `observe` group measures the cost of both cases).
 */
import diagnostics from 'node:diagnostics_channel';

/** The channel names (stable). */
export const CHANNELS = {
  /** A session is established (after the server's authorization). {@link SessionOpenMessage} */
  sessionOpen: 'secsess:session:open',
  /** An established session ended, with its code and counts. {@link SessionCloseMessage} */
  sessionClose: 'secsess:session:close',
  /**
   * The handshake, as a `tracingChannel` (`tracing:secsess:handshake:start`, `:end`,
   * `:asyncStart`, `:asyncEnd`, `:error`): APM tools time it. {@link HandshakeContext}
   */
  handshake: 'secsess:handshake',
  /** A connection or hello turned away by a load limit, before any RSA. {@link RefusedMessage} */
  refused: 'secsess:server:refused',
  /** A direction of a session moved to its next keys (KeyUpdate, a datagram epoch). {@link KeyUpdateMessage} */
  keyUpdate: 'secsess:session:keyupdate',
  /** A trust decision on a peer's key (known_hosts, authorized keys, hooks). {@link TrustMessage} */
  trust: 'secsess:trust',
} as const;

export type Role = 'client' | 'server';
/** `'stream'`: a session over TCP or any Duplex; `'datagram'`: over UDP. */
export type TransportKind = 'stream' | 'datagram';

/** `secsess:session:open`. */
export interface SessionOpenMessage {
  /** The `Session` or `DatagramSession` (to correlate with the application's own objects). */
  readonly session: object;
  readonly role: Role;
  readonly transport: TransportKind;
  /** `address:port` (IPv6 in brackets); `''` when the transport has no address (a Duplex). */
  readonly local: string;
  readonly remote: string;
  /** `RSA/AES-256-CBC/SHA-256`. */
  readonly suite: string;
  /** `SHA256:…` fingerprints (public by nature); null when there is none (no client auth). */
  readonly serverKey: string | null;
  readonly clientKey: string | null;
  readonly resumed: boolean;
}

/** `secsess:session:close`. */
export interface SessionCloseMessage {
  readonly session: object;
  readonly role: Role;
  readonly transport: TransportKind;
  readonly remote: string;
  /** The close code (1000 normal, 1001 going away, 1006 abnormal, …), as the `'close'` event gives it. */
  readonly code: number;
  readonly reason: string;
  /** The error's code (`ERR_TRUNCATED`, …) when the session ended with one, else null. */
  readonly error: string | null;
  /** Milliseconds from establishment to close. */
  readonly durationMs: number;
  /** Transport bytes (frames or packets, headers included) and records, each way, over the whole session. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly recordsSent: number;
  readonly recordsReceived: number;
}

/**
 * The context object of the `secsess:handshake` tracing channel: made when the handshake
 * starts and filled in as it goes; on success `session` is set, on failure the tracing
 * channel sets `error` (a SessionError: its `code` says why).
 */
export interface HandshakeContext {
  readonly role: Role;
  readonly transport: TransportKind;
  local: string;
  remote: string;
  /** Set once known (on success at the latest). */
  suite?: string;
  resumed?: boolean;
  serverKey?: string | null;
  clientKey?: string | null;
  session?: object;
  error?: unknown;
}

/** `secsess:server:refused`. */
export interface RefusedMessage {
  /** The `Server` or `DatagramServer`. */
  readonly server: object;
  readonly transport: TransportKind;
  /** The option that refused (`maxConnections`, `handshakeRate`, …). */
  readonly limit: string;
  readonly remote: string;
}

/** `secsess:session:keyupdate`. */
export interface KeyUpdateMessage {
  readonly session: object;
  readonly role: Role;
  readonly transport: TransportKind;
  /** Whose keys moved: ours (`'send'`) or the peer's (`'receive'`). */
  readonly direction: 'send' | 'receive';
  /** The new key generation of that direction (the first keys are generation 0; a datagram epoch number). */
  readonly generation: number;
}

/** `secsess:trust`. */
export interface TrustMessage {
  /** Who decided: a client on a server's key, a server on a client's. */
  readonly role: Role;
  readonly transport: TransportKind;
  /** The peer: `host:port` as the client named it, or the client's `address:port`. */
  readonly remote: string;
  readonly fingerprint: string;
  /** `'trusted'`: a key already known or pinned; `'learned'`: accepted and recorded (first use); `'refused'`. */
  readonly decision: 'trusted' | 'learned' | 'refused';
  /**
   * Why, in a word: `pinned` (trusted; or refused: the server did not hold the pinned key,
   * ERR_SERVER_KEY_MISMATCH, `fingerprint` the pinned one), `known`, `new-host` (learned or
   * accepted on first use), `changed`, `revoked`, `unknown-host` (strict), `error` (the
   * known_hosts file could not be read or written), `not-listed` (authorized keys; the
   * fingerprint the client claimed, unproven), `hook` (the authorize hook denied), `authorized`.
   */
  readonly reason: string;
}

export const sessionOpenChannel = diagnostics.channel(CHANNELS.sessionOpen);
export const sessionCloseChannel = diagnostics.channel(CHANNELS.sessionClose);
export const handshakeChannel = diagnostics.tracingChannel<unknown, HandshakeContext>(CHANNELS.handshake);
export const refusedChannel = diagnostics.channel(CHANNELS.refused);
export const keyUpdateChannel = diagnostics.channel(CHANNELS.keyUpdate);
export const trustChannel = diagnostics.channel(CHANNELS.trust);
