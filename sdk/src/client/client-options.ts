/** Options of {@link Client} and their validation (see common/options.ts for the rules). */
import type { PrivateKeyInput } from '../common/key-input.js';
import type { TrustOptions } from './trust.js';
import { DEFAULT_BUSY_RETRIES, DEFAULT_CONNECT_TIMEOUT, MAX_TIMER_MS } from '../common/defaults.js';
import { checkInt, checkObject, resolveSessionOptions } from '../common/options.js';
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
}

/** @internal */
export function resolveClientOptions(options: ClientOptions | undefined): ResolvedSessionOptions & {
  readonly connectTimeout: number;
  readonly maxFragmentSize: number | undefined;
  readonly busyRetries: number;
} {
  const o = checkObject(options, 'options');
  return {
    ...resolveSessionOptions(o),
    connectTimeout: checkInt('connectTimeout', o.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMER_MS),
    busyRetries: checkInt('busyRetries', o.busyRetries, DEFAULT_BUSY_RETRIES, 0, 100),
    // The core validates and defaults it (1–65536, default 65536).
    maxFragmentSize: o.maxFragmentSize,
  };
}
