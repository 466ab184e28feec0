/**
 * Where a {@link Server} listens: an endpoint it binds, or a socket it inherits already
 * bound and listening — systemd socket activation (`ListenStream=` hands the service its
 * sockets from fd 3 on, see sd_listen_fds(3)), or any parent that passes one down.
 */
import type { Server as NetServer } from 'node:net';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { Endpoint, EndpointInput } from '../common/endpoint.js';
import { debug } from '../common/debug.js';

/** An inherited listening socket: its file descriptor (3 for systemd's first socket). */
export interface InheritedSocket {
  readonly fd: number;
}

/** What `Server.create()` accepts as the place to listen. */
export type ServerEndpointInput = EndpointInput | InheritedSocket;

/** @internal A parsed {@link ServerEndpointInput}. */
export type ListenTarget = Endpoint | InheritedSocket;

/**
 * @internal Parses the place to listen: `{ fd }` (a non-negative integer, nothing else beside it) or
 * an endpoint as `parseEndpoint` takes it, port 0 allowed.
 *
 * @throws TypeError / RangeError as `parseEndpoint`, or for a bad `fd`.
 */
export function parseListenTarget(input: ServerEndpointInput): ListenTarget {
  if (input === null || typeof input !== 'object' || !('fd' in input)) {
    return parseEndpoint(input, { allowPortZero: true });
  }
  const { fd } = input;
  if ('host' in input || 'port' in input) {
    throw new TypeError('endpoint: give either { fd } or { host, port }, not both');
  }
  if (typeof fd !== 'number' || !Number.isInteger(fd)) throw new TypeError('endpoint.fd must be an integer');
  if (fd < 0 || fd > 0x7fffffff) throw new RangeError(`endpoint.fd must be from 0 to 2147483647, got ${fd}`);
  return { fd };
}

/** @internal For messages: `127.0.0.1:4433`, `[::1]:0`, `fd 3`. */
export function describeListenTarget(target: ListenTarget): string {
  return 'fd' in target ? `fd ${target.fd}` : formatEndpoint(target);
}

/**
 * Makes `listener` (a `node:net` server) listen on `target` and resolves with the address it
 * really listens on (the port picked for port 0, the inherited socket's own address), failing
 * as `Server.start()` does. `secsess connect --listen` uses it for its plaintext listener.
 *
 * @throws SessionError ERR_TRANSPORT if it cannot (cause: the system error: EADDRINUSE,
 *   EACCES, EINVAL for an fd that is not a socket), or if an inherited socket is not TCP (a
 *   Unix or UDP socket); the listener is closed then.
 */
export async function listenOn(listener: NetServer, target: Endpoint | InheritedSocket): Promise<Endpoint> {
  const what = describeListenTarget(target);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    const options = 'fd' in target ? { fd: target.fd } : { host: target.host, port: target.port };
    listener.listen(options, () => {
      listener.off('error', reject);
      resolve();
    });
  }).catch((cause: NodeJS.ErrnoException) => {
    throw new SessionError(ErrorCode.TRANSPORT, `cannot listen on ${what}: ${cause.code ?? cause.message}`, {
      cause,
    });
  });
  const bound = listener.address();
  if (bound && typeof bound === 'object') return { host: bound.address, port: bound.port };
  // A Unix socket (address() is its path, or null when abstract): no host and port to report.
  listener.close();
  throw new SessionError(ErrorCode.TRANSPORT, `cannot listen on ${what}: not a TCP socket`);
}

/** @internal `start()` again on an inherited socket: ERR_INVALID_STATE. */
export function usedAlready(target: ListenTarget): SessionError {
  return new SessionError(ErrorCode.INVALID_STATE, `${describeListenTarget(target)} was used already`);
}

/** @internal The debug line of a server that listens now. */
export function debugListening(
  address: Endpoint,
  target: ListenTarget,
  fingerprints: readonly string[],
): void {
  debug(
    'server: listening on %s%s, keys %s',
    formatEndpoint(address),
    'fd' in target ? ` (inherited ${describeListenTarget(target)})` : '',
    fingerprints.join(', '),
  );
}
