/**
 * Options of {@link DatagramServer} and {@link DatagramClient}, their defaults and their
 * validation (the rules of common/options.ts: TypeError for a wrong type or conflicting
 * options, RangeError for a number out of range, each checked at `create()`).
 *
 * What a datagram session needs (keepalive, idle limit, datagram size, send queue, replay
 * mode) is session-options.ts's {@link DatagramSessionOptions}; each side adds its own
 * here. PROTOCOL.md §D6/§D8 and README.md "Datagrams" give the reasons for the defaults.
 */
import type { AuthorizationOptions } from '../server/authorization.js';
import type { TrustOptions } from '../client/trust.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import {
  DEFAULT_BUSY_RETRIES,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  MAX_TIMER_MS,
  defaultWorkerCount,
} from '../common/defaults.js';
import { checkInt, checkObject, checkPerAddressCap } from '../common/options.js';
import { resolveDatagramSessionOptions } from './session-options.js';
import type { DatagramSessionOptions, ResolvedDatagramSessionOptions } from './session-options.js';

/** Sessions a {@link DatagramServer} holds at once by default: 10 000. */
export const DEFAULT_MAX_DATAGRAM_SESSIONS = 10_000;
/** Sessions one source (IPv4 address, IPv6 /64) may hold at once by default: 1024. */
export const DEFAULT_MAX_DATAGRAM_SESSIONS_PER_ADDRESS = 1024;

/** Largest `recvBufferSize` / `sendBufferSize` accepted: 1 GiB (the kernel caps it lower). */
export const MAX_SOCKET_BUFFER_SIZE = 1 << 30;

/**
 * The UDP socket's kernel buffers (node:dgram's createSocket options of the same names).
 * A burst of handshakes overflows the default receive buffer and loses datagrams; a busy
 * server raises it, as any UDP server does. Linux doubles the value and caps it at
 * net.core.rmem_max / wmem_max.
 */
export interface DatagramSocketOptions {
  /** SO_RCVBUF in bytes. Default: the system's (net.core.rmem_default on Linux). */
  readonly recvBufferSize?: number;
  /** SO_SNDBUF in bytes. Default: the system's (net.core.wmem_default on Linux). */
  readonly sendBufferSize?: number;
}

/** Options of {@link DatagramServer}. */
export interface DatagramServerOptions
  extends DatagramSessionOptions, AuthorizationOptions, DatagramSocketOptions {
  /**
   * Whether a server on an IPv6 address (`'[::]:0'`) takes IPv6 only, not IPv4 too
   * (IPV6_V6ONLY, node:dgram's `ipv6Only`). Default false: the system's dual stack.
   */
  readonly ipv6Only?: boolean;
  /**
   * Milliseconds a handshake may hold state on the server, from its admitted Hello to its
   * ClientFinished. Default 10000.
   */
  readonly handshakeTimeout?: number;
  /**
   * Worker threads doing the RSA of each handshake; 0: the main thread. Default min(2, cores);
   * 1 in a node:cluster worker (as for `Server`).
   */
  readonly workers?: number;
  /** Open sessions held at once; a Hello beyond is refused (ServerBusy). Default 10000. */
  readonly maxSessions?: number;
  /**
   * Open sessions one source (IPv4 address, IPv6 /64; where its handshake came from) may
   * hold at once, so that one address cannot take every place; a Hello beyond is refused
   * (ServerBusy). Default 1024 (at most `maxSessions`). Channels (`attach()`) do not count.
   */
  readonly maxSessionsPerAddress?: number;
  /**
   * Handshakes in progress at once (from a Hello whose cookie verified to its
   * ClientFinished or its timeout); a Hello beyond is refused (ServerBusy). Default 64.
   */
  readonly maxHandshakes?: number;
  /** The same, per source address (IPv6: per /64). Default 16 (at most `maxHandshakes`). */
  readonly maxHandshakesPerAddress?: number;
  /**
   * Hellos per second one source (IPv4 address, IPv6 /64) may bring to RSA, sustained (a
   * token bucket of `handshakeBurst`); beyond, refused with ServerBusy before any RSA.
   * Counted only for Hellos whose cookie verified. 0 turns it off. Default 10.
   */
  readonly handshakeRate?: number;
  /** The bucket's size: Hellos one source may bring to RSA at once. Default 32. */
  readonly handshakeBurst?: number;
  /** RSA decryptions allowed to wait for the worker pool; beyond, ServerBusy. Default 64. */
  readonly maxPendingDecrypts?: number;
}

/** @internal The node:dgram createSocket options given (those left out are absent). */
export interface ResolvedSocketOptions {
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  readonly ipv6Only?: boolean;
}

/** @internal */
export interface ResolvedDatagramServerOptions {
  readonly session: ResolvedDatagramSessionOptions;
  readonly socket: ResolvedSocketOptions;
  readonly handshakeTimeout: number;
  readonly workers: number;
  readonly maxSessions: number;
  readonly maxSessionsPerAddress: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
  readonly maxPendingDecrypts: number;
}

/** Options of {@link DatagramClient}. */
export interface DatagramClientOptions extends DatagramSessionOptions, TrustOptions, DatagramSocketOptions {
  /**
   * Milliseconds from the first handshake packet to an open session (retransmissions
   * included); then `connect()` rejects with TimeoutError (`limit: 'handshake'`). Default 10000.
   */
  readonly handshakeTimeout?: number;
  /** The client's private key (or its path), for servers that authorize clients. Default: none. */
  readonly clientKey?: PrivateKeyInput;
  /**
   * Times `connect()` tries again when the server refuses the handshake under load
   * (ERR_SERVER_BUSY), after a random pause that doubles (50 ms, … at most 1 s). Default 5.
   */
  readonly busyRetries?: number;
}

/** @internal */
export interface ResolvedDatagramClientOptions {
  readonly session: ResolvedDatagramSessionOptions;
  readonly socket: ResolvedSocketOptions;
  readonly handshakeTimeout: number;
  readonly busyRetries: number;
}

function handshakeTimeout(value: unknown): number {
  return checkInt('handshakeTimeout', value, DEFAULT_HANDSHAKE_TIMEOUT, 1, MAX_TIMER_MS);
}

function bufferSizes(o: DatagramSocketOptions): ResolvedSocketOptions {
  const out: { recvBufferSize?: number; sendBufferSize?: number } = {};
  for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
    if (o[name] !== undefined) out[name] = checkInt(name, o[name], 0, 1, MAX_SOCKET_BUFFER_SIZE);
  }
  return out;
}

/** @internal */
export function resolveDatagramServerOptions(
  options: DatagramServerOptions | undefined,
): ResolvedDatagramServerOptions {
  const o = checkObject(options, 'options');
  const session = resolveDatagramSessionOptions(o);
  const maxHandshakes = checkInt('maxHandshakes', o.maxHandshakes, DEFAULT_MAX_HANDSHAKES, 1, 1 << 20);
  const maxHandshakesPerAddress = checkPerAddressCap(
    'maxHandshakesPerAddress',
    o.maxHandshakesPerAddress,
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
    { name: 'maxHandshakes', value: maxHandshakes },
    1 << 20,
  );
  const maxSessions = checkInt('maxSessions', o.maxSessions, DEFAULT_MAX_DATAGRAM_SESSIONS, 1, 1 << 24);
  const maxSessionsPerAddress = checkPerAddressCap(
    'maxSessionsPerAddress',
    o.maxSessionsPerAddress,
    DEFAULT_MAX_DATAGRAM_SESSIONS_PER_ADDRESS,
    { name: 'maxSessions', value: maxSessions },
    1 << 24,
  );
  if (o.ipv6Only !== undefined && typeof o.ipv6Only !== 'boolean') {
    throw new TypeError('ipv6Only must be a boolean');
  }
  return {
    session,
    socket: { ...bufferSizes(o), ...(o.ipv6Only !== undefined ? { ipv6Only: o.ipv6Only } : {}) },
    handshakeTimeout: handshakeTimeout(o.handshakeTimeout),
    workers: checkInt('workers', o.workers, defaultWorkerCount(), 0, 64),
    maxSessions,
    maxSessionsPerAddress,
    maxHandshakes,
    maxHandshakesPerAddress,
    handshakeRate: checkInt('handshakeRate', o.handshakeRate, DEFAULT_HANDSHAKE_RATE, 0, 1 << 20),
    handshakeBurst: checkInt('handshakeBurst', o.handshakeBurst, DEFAULT_HANDSHAKE_BURST, 1, 1 << 20),
    maxPendingDecrypts: checkInt(
      'maxPendingDecrypts',
      o.maxPendingDecrypts,
      DEFAULT_MAX_PENDING_DECRYPTS,
      1,
      1 << 20,
    ),
  };
}

/** @internal */
export function resolveDatagramClientOptions(
  options: DatagramClientOptions | undefined,
): ResolvedDatagramClientOptions {
  const o = checkObject(options, 'options');
  const session = resolveDatagramSessionOptions(o);
  return {
    session,
    socket: bufferSizes(o),
    handshakeTimeout: handshakeTimeout(o.handshakeTimeout),
    busyRetries: checkInt('busyRetries', o.busyRetries, DEFAULT_BUSY_RETRIES, 0, 100),
  };
}
