/**
 * `probeServerKey()`: asks a secsess server for its public key (the protocol's KeyRequest)
 * without completing a handshake. The answer is not authenticated — it is what the server
 * (or whoever answers on that address) says its key is: compare the fingerprint out of band
 * before trusting it.
 */
import { connect as netConnect } from 'node:net';
import type { PublicKey } from '@secsess/keys';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { parseEndpoint } from '../common/endpoint.js';
import type { EndpointInput } from '../common/endpoint.js';
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT } from '../common/defaults.js';
import { ClientConnection, ErrorCode, SessionError, TimeoutError } from '../protocol/index.js';

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
  return new Promise<PublicKey>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError('probe', signal));
      return;
    }
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    let settled = false;
    const finish = (error: unknown, key?: PublicKey): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      removeAbort();
      socket.destroy();
      if (key) resolve(key);
      else reject(error);
    };
    const timer = setTimeout(() => finish(new TimeoutError('handshake', ms)), ms);
    const removeAbort = onAbort(signal, () => finish(abortError('probe', signal!)));
    const conn = new ClientConnection(
      {
        send: (data) => socket.write(data),
        serverKey: (key) => finish(null, key),
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
