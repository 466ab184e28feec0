/**
 * `serve --forward`'s backend connections: one per session, or one per channel of a channel
 * session (channels/serve-channels.ts), and the PROXY v2 header each begins with under
 * `--proxy-protocol`.
 */
import type { Socket } from 'node:net';
import { connectBorrowing, encodeProxyHeader } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import type { HostPort } from '../commands/host-port.js';
import { isLoopback } from './address.js';

/** Close code of a session (or channel) whose backend refused or did not answer. */
export const CLOSE_BACKEND = 4000;
export const BACKEND_REASON = 'backend unavailable';
/** How long a backend connection may take. */
const BACKEND_TIMEOUT = 10_000;

/** {@link proxyHeaderFor}: the session's addresses are unknown (its socket is gone). */
export const UNKNOWN_ADDRESS = 'unknown';
export const UNKNOWN_ADDRESS_REASON = 'client address unknown (--proxy-protocol)';

/**
 * The PROXY v2 header naming `session`'s client (behind --accept-proxy: the one its proxy
 * named) and the address it connected to (the proxy's front) — read when called: the socket
 * may be gone by the time the backend answers. Fail closed: without the header the backend
 * would take the client's own first bytes for one (a client could then name any address).
 * Addresses are unknown only once the socket is gone, so such a session is ending anyway.
 */
export function proxyHeaderFor(session: Session): Buffer | typeof UNKNOWN_ADDRESS {
  const { remoteAddress, remotePort, localAddress, localPort } = session;
  if (
    remoteAddress === undefined ||
    remotePort === undefined ||
    localAddress === undefined ||
    localPort === undefined
  ) {
    return UNKNOWN_ADDRESS;
  }
  return encodeProxyHeader(
    { address: remoteAddress, port: remotePort },
    { address: localAddress, port: localPort },
  );
}

/**
 * Connects to the backend; null if it refuses, fails or does not answer in time — or, with
 * `loopbackOnly`, if the connection is not to a loopback address, or once `signal` aborts. The --forward name was
 * checked at start, but it is resolved again for every connection: a DNS answer that changed
 * since (rebinding) must not send a session's bytes in the clear to another host.
 */
export function openBackend(
  target: HostPort,
  loopbackOnly: boolean,
  signal?: AbortSignal,
): Promise<Socket | null> {
  if (signal?.aborted) return Promise.resolve(null);
  return new Promise((resolve) => {
    // Reads into the shared buffer (no 64 KiB buffer allocated per read): pump.ts takes them.
    const socket = connectBorrowing({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    const timer = setTimeout(() => socket.destroy(), BACKEND_TIMEOUT);
    // The channel this connection was for ended first (serve-channels.ts): give it up.
    const abandon = (): void => void socket.destroy();
    signal?.addEventListener('abort', abandon, { once: true });
    const failed = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abandon);
      resolve(null);
    };
    socket.once('error', failed);
    socket.once('close', failed);
    socket.once('connect', () => {
      if (loopbackOnly && !isLoopback(socket.remoteAddress ?? '')) {
        socket.destroy();
        return;
      }
      clearTimeout(timer);
      signal?.removeEventListener('abort', abandon);
      socket.off('error', failed);
      socket.off('close', failed);
      resolve(socket);
    });
  });
}
