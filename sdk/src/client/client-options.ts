/** Options of {@link Client} and their validation (see common/options.ts for the rules). */
import type { PrivateKeyInput } from '../common/key-input.js';
import type { TrustOptions } from './trust.js';
import { TicketStore } from './ticket-store.js';
import { DEFAULT_BUSY_RETRIES, DEFAULT_CONNECT_TIMEOUT, MAX_TIMER_MS } from '../common/defaults.js';
import { checkBoolean, checkInt, checkObject, resolveSessionOptions } from '../common/options.js';
import type { ResolvedSessionOptions, SessionOptions } from '../common/options.js';

/** Options of {@link Client}. */
export interface ClientOptions extends SessionOptions, TrustOptions {
  /**
   * The client's own private key (or its file's path), to authenticate to servers that
   * check `authorizedKeys` or an `authorize` hook. Default: none.
   */
  readonly clientKey?: PrivateKeyInput;
  /** Milliseconds to establish the TCP connection. Default 10000. */
  readonly connectTimeout?: number;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /**
   * Times `connect()` tries again when the server refuses the connection under load
   * (ERR_SERVER_BUSY), after a random pause that doubles each time (50 ms, 100 ms, … at
   * most 1 s). 0 reports the first refusal. Default 5.
   */
  readonly busyRetries?: number;
  /**
   * Session resumption (README "Resumption"): ask servers for tickets and offer one when
   * connecting again, so that neither side does an RSA operation. `true` keeps the tickets
   * in a store of this client's own; a {@link TicketStore} may be shared by several
   * clients. A ticket is offered only to the same server key, with the same suite and the
   * same `clientKey`; a server that refuses it gets a full handshake on the same
   * connection. Needs the server's key (pinned, or listed in known_hosts). Servers built
   * before resumption refuse the request (ERR_HANDSHAKE): enable it only for servers that
   * have it. Default false.
   */
  readonly resumption?: boolean | TicketStore;
  /**
   * Carry channels (PROTOCOL.md §6b): ask the server, with ClientHello flag bit 2, for a
   * session whose messages are channel frames (`session.channels`). Servers without
   * `channels` (and those built before it) refuse the hello with ERR_HANDSHAKE. Such a
   * session is never resumed (a ResumeHello has no channels flag): no ticket is offered,
   * though with `resumption` one is still asked for. Default false.
   */
  readonly channels?: boolean;
}

/** @internal */
export function resolveClientOptions(options: ClientOptions | undefined): ResolvedSessionOptions & {
  readonly connectTimeout: number;
  readonly maxFragmentSize: number | undefined;
  readonly busyRetries: number;
  readonly resumption: TicketStore | null;
  readonly channels: boolean;
} {
  const o = checkObject(options, 'options');
  return {
    ...resolveSessionOptions(o),
    connectTimeout: checkInt('connectTimeout', o.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMER_MS),
    busyRetries: checkInt('busyRetries', o.busyRetries, DEFAULT_BUSY_RETRIES, 0, 100),
    // The core validates and defaults it (1–65536, default 65536).
    maxFragmentSize: o.maxFragmentSize,
    resumption: checkResumption(o.resumption),
    channels: checkBoolean('channels', o.channels, false),
  };
}

function checkResumption(value: unknown): TicketStore | null {
  if (value === undefined || value === false) return null;
  if (value === true) return new TicketStore();
  if (value instanceof TicketStore) return value;
  throw new TypeError('options.resumption must be a boolean or a TicketStore');
}
