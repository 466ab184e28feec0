/**
 * `probeServerKey()`: asks a secsess server for its public key (the protocol's KeyRequest)
 * without completing a handshake. The answer is not authenticated — it is what the server
 * (or whoever answers on that address) says its key is: compare the fingerprint out of band
 * before trusting it.
 */
import { connect as netConnect } from 'node:net';
import type { PublicKey } from '@secsess/keys';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { debug, describeError } from '../common/debug.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { Endpoint, EndpointInput } from '../common/endpoint.js';
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT } from '../common/defaults.js';
import {
  ClientConnection,
  ErrorCode,
  HandshakeError,
  SessionError,
  TimeoutError,
} from '../protocol/index.js';

export interface ProbeOptions {
  /** Milliseconds for the whole probe (connect and answer). Default 20000. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

/** Connects to `endpoint`, asks for the server's public key, and disconnects. */
export function probeServerKey(endpoint: EndpointInput, options: ProbeOptions = {}): Promise<PublicKey> {
  const target = parseEndpoint(endpoint);
  const signal = checkSignal(options.signal, 'options.signal');
  const ms = options.timeout ?? DEFAULT_CONNECT_TIMEOUT + DEFAULT_HANDSHAKE_TIMEOUT;
  if (!Number.isInteger(ms) || ms <= 0) throw new RangeError('options.timeout must be a positive integer');
  return requestServerKey(target, { timeout: ms, ...(signal ? { signal } : {}) });
}

/**
 * @internal The KeyRequest exchange. With `decide`, the key is judged before the connection
 * ends: if `decide` rejects, the server is told with the plaintext Alert HandshakeFailed
 * (PROTOCOL.md §6, "Key probes": it reports a refused key, not a failed handshake) and the
 * promise rejects with `decide`'s error. Without it, the probe takes the key and hangs up.
 */
export function requestServerKey(
  target: Endpoint,
  options: {
    readonly timeout?: number;
    readonly signal?: AbortSignal;
    readonly decide?: (key: PublicKey) => Promise<void>;
  },
): Promise<PublicKey> {
  const { signal, decide } = options;
  const ms = options.timeout ?? DEFAULT_CONNECT_TIMEOUT + DEFAULT_HANDSHAKE_TIMEOUT;
  const host = formatEndpoint(target);
  return new Promise<PublicKey>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError('probe', signal));
      return;
    }
    debug('probe: asking %s for its key', host);
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    let settled = false;
    const finish = (error: unknown, key?: PublicKey, graceful = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      removeAbort();
      // A refusal's alert must reach the server: end (flush, then FIN) instead of destroying.
      if (graceful) socket.end();
      else socket.destroy();
      if (key) resolve(key);
      else {
        debug('probe: %s: %s', host, describeError(error));
        reject(error);
      }
    };
    const timer = setTimeout(() => finish(new TimeoutError('handshake', ms)), ms);
    const removeAbort = onAbort(signal, () => finish(abortError('probe', signal!)));
    const onKey = (key: PublicKey): void => {
      debug('probe: %s answered with key %s (unauthenticated)', host, key.fingerprint());
      if (!decide) {
        finish(null, key);
        return;
      }
      decide(key).then(
        () => finish(null, key),
        (err: unknown) => {
          if (settled) return;
          // HandshakeFailed in plaintext: the one alert a client may send before keys exist.
          conn.fail(new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: the client refused the server key'));
          finish(err, undefined, true);
        },
      );
    };
    const conn = new ClientConnection(
      {
        send: (data) => socket.write(data),
        serverKey: onKey,
        established: () => finish(new SessionError(ErrorCode.PROTOCOL, 'probe: unexpected handshake')),
        message: () => {},
        peerClosed: () => {},
      },
      {},
    );
    socket.once('connect', () => conn.start());
    socket.on('data', (chunk: Buffer) => {
      try {
        conn.receive(chunk);
      } catch (err) {
        finish(err);
      }
    });
    socket.once('error', (err) =>
      finish(new SessionError(ErrorCode.TRANSPORT, `probe: ${err.message}`, { cause: err })),
    );
    socket.once('close', () =>
      finish(new SessionError(ErrorCode.HANDSHAKE, 'probe: the server closed without sending its key')),
    );
  });
}
