/** Options of {@link Server} and their validation (see common/options.ts for the rules). */
import type { AuthorizationOptions } from './authorization.js';
import {
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  DEFAULT_MAX_PENDING_SESSIONS,
  DEFAULT_SERVER_IDLE_TIMEOUT,
  defaultWorkerCount,
  MAX_TIMER_MS,
} from '../common/defaults.js';
import {
  checkBoolean,
  checkInt,
  checkObject,
  checkPerAddressCap,
  resolveSessionOptions,
} from '../common/options.js';
import type { ResolvedSessionOptions, SessionOptions } from '../common/options.js';
import { resolveTicketOptions } from './tickets.js';
import type { ResolvedTicketOptions, TicketOptions } from './tickets.js';
import { TrustedAddresses } from './trusted-addresses.js';

/**
 * The PROXY protocol (v1 and v2, HAProxy's proxy-protocol.txt) from a load balancer: see
 * {@link ServerOptions.proxyProtocol}.
 */
export interface ProxyProtocolOptions {
  /**
   * The socket addresses allowed (and required) to send a PROXY header: IP addresses and
   * CIDR blocks, IPv4 and IPv6 (`"10.0.0.5"`, `"10.0.0.0/8"`, `"2001:db8::/32"`); an IPv4
   * entry also matches its IPv4-mapped form (`::ffff:10.0.0.5`, a dual-stack listener's
   * view of an IPv4 peer). 1 to 1024 entries.
   */
  readonly trusted: readonly string[];
  /** Milliseconds a trusted connection has to send its whole header. Default: `handshakeTimeout`. */
  readonly timeout?: number;
}

/** Options of {@link Server}. */
export interface ServerOptions extends SessionOptions, AuthorizationOptions {
  /**
   * Worker threads holding the private key(s) for the RSA decryption of each handshake,
   * so it never blocks the event loop. 0 decrypts on the main thread. Default
   * min(2, os.availableParallelism()); in a node:cluster worker (`cluster.isWorker`) 1,
   * since the cluster's processes share the cores: N processes × 1 thread, not × 2.
   */
  readonly workers?: number;
  /**
   * Established sessions kept for `acceptClient()` when there is no `'session'` listener.
   * A session established while the queue is full is closed with code 1013 (try again
   * later). Default 128.
   */
  readonly maxPendingSessions?: number;
  /**
   * Connections allowed in their handshake at once. When they are all taken, a new
   * connection evicts the oldest one that has not yet sent a complete ClientHello (an idle
   * or slow-drip peer); if every one has, the new connection is refused. Default 64.
   */
  readonly maxHandshakes?: number;
  /**
   * Connections from one remote address (IPv6: one /64 prefix) allowed in their handshake
   * at once; more are refused. Default 16 (at most `maxHandshakes`).
   */
  readonly maxHandshakesPerAddress?: number;
  /**
   * ClientHellos per second that one remote address (IPv6: one /64 prefix) may bring to
   * the RSA decryption, sustained (a token bucket of `handshakeBurst` tokens refilled at
   * this rate). A hello over the rate is refused before any RSA work (ServerBusy; the
   * client sees ERR_SERVER_BUSY and retries; `'refused'` with `'handshakeRate'`).
   * 0 turns the limit off. Default 10.
   */
  readonly handshakeRate?: number;
  /**
   * ClientHellos one remote address may bring to the RSA decryption at once after a quiet
   * spell (the token bucket's size; see `handshakeRate`). Default 32.
   */
  readonly handshakeBurst?: number;
  /**
   * RSA decryptions allowed to wait for the worker pool; a ClientHello that arrives when
   * this many are queued is refused before any RSA work. Not used with `workers: 0`, where
   * each decryption runs at once on the main thread. Default 64.
   */
  readonly maxPendingDecrypts?: number;
  /**
   * Connections (in their handshake or established) the server holds at once; more are
   * refused. 0: no limit but the process's file-descriptor limit. Default 0.
   */
  readonly maxConnections?: number;
  /**
   * Session resumption (README "Resumption", PROTOCOL.md §6a): with ticket keys, the server
   * gives each client that asks a ticket, and a client that comes back with it resumes
   * without an RSA operation (its identity, authorization and admission are checked as
   * for any client; the handshake rate limit does not count it). Change the keys at run
   * time with `server.setTicketKeys()`. Default: none (tickets are neither issued nor
   * accepted; a client that offers one gets a full handshake).
   */
  readonly tickets?: TicketOptions;
  /**
   * Behind a load balancer: accept the PROXY protocol (v1 or v2) from `trusted` addresses,
   * so the server sees each client's own address. A connection whose socket peer is
   * trusted must begin with a PROXY header (within `timeout`); after it, `authorize(peer)`,
   * the per-address limits and `handshakeRate`, the events, `session.remoteAddress` /
   * `remotePort` / `localAddress` / `localPort` and the debug lines see the header's
   * addresses (a LOCAL / UNKNOWN header, a health check: the socket's own). A trusted
   * connection without a valid header, and a connection from anywhere else that begins
   * with a PROXY signature (a spoofed client address), are dropped with ERR_PROXY_PROTOCOL
   * (`'handshakeError'`). `maxConnections` counts connections still sending their header.
   * Default: off (no header is read; no address is trusted).
   */
  readonly proxyProtocol?: ProxyProtocolOptions;
  /**
   * Serve channels (PROTOCOL.md §6b): accept clients that ask for them (the client's
   * `channels`); such a session has `session.channels` true and its messages are channel
   * frames, which the application reads and writes. Without it, such a client is refused
   * (ERR_HANDSHAKE) and connects again without. Default false.
   */
  readonly channels?: boolean;
}

/** @internal `proxyProtocol` checked. */
export interface ResolvedProxyProtocol {
  readonly trusted: TrustedAddresses;
  readonly timeout: number;
}

/** @internal Server options with every default applied. */
export interface ResolvedServerOptions extends ResolvedSessionOptions {
  readonly workers: number;
  readonly maxPendingSessions: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  readonly maxPendingDecrypts: number;
  readonly maxConnections: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
  readonly tickets: ResolvedTicketOptions | null;
  readonly proxyProtocol: ResolvedProxyProtocol | null;
  readonly channels: boolean;
}

/** @internal */
export function resolveServerOptions(options: ServerOptions | undefined): ResolvedServerOptions {
  const o = checkObject(options, 'options');
  const maxHandshakes = checkInt('maxHandshakes', o.maxHandshakes, DEFAULT_MAX_HANDSHAKES, 1, 1 << 20);
  const maxHandshakesPerAddress = checkPerAddressCap(
    'maxHandshakesPerAddress',
    o.maxHandshakesPerAddress,
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
    { name: 'maxHandshakes', value: maxHandshakes },
    1 << 20,
  );
  const maxConnections = checkInt('maxConnections', o.maxConnections, DEFAULT_MAX_CONNECTIONS, 0, 1 << 24);
  const session = resolveSessionOptions(o, DEFAULT_SERVER_IDLE_TIMEOUT);
  return {
    ...session,
    workers: checkInt('workers', o.workers, defaultWorkerCount(), 0, 64),
    maxPendingSessions: checkInt(
      'maxPendingSessions',
      o.maxPendingSessions,
      DEFAULT_MAX_PENDING_SESSIONS,
      0,
      1 << 20,
    ),
    maxHandshakes,
    maxHandshakesPerAddress,
    maxPendingDecrypts: checkInt(
      'maxPendingDecrypts',
      o.maxPendingDecrypts,
      DEFAULT_MAX_PENDING_DECRYPTS,
      1,
      1 << 20,
    ),
    maxConnections,
    handshakeRate: checkInt('handshakeRate', o.handshakeRate, DEFAULT_HANDSHAKE_RATE, 0, 1 << 20),
    handshakeBurst: checkInt('handshakeBurst', o.handshakeBurst, DEFAULT_HANDSHAKE_BURST, 1, 1 << 20),
    tickets: resolveTicketOptions(o.tickets),
    proxyProtocol: resolveProxyProtocol(o.proxyProtocol, session.handshakeTimeout),
    channels: checkBoolean('channels', o.channels, false),
  };
}

function resolveProxyProtocol(
  value: ProxyProtocolOptions | undefined,
  handshakeTimeout: number,
): ResolvedProxyProtocol | null {
  if (value === undefined) return null;
  const o = checkObject(value, 'proxyProtocol');
  return {
    trusted: new TrustedAddresses(o.trusted as readonly string[], 'proxyProtocol.trusted'),
    timeout: checkInt('proxyProtocol.timeout', o.timeout, handshakeTimeout, 1, MAX_TIMER_MS),
  };
}
