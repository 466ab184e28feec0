/**
 * node:dgram plumbing shared by {@link DatagramServer} and {@link DatagramClient}: which
 * socket type a host needs (udp4 or udp6), binding a server socket, and a client socket
 * connected to one server. Failures are ERR_TRANSPORT with the system error as `cause`.
 */
import { createSocket } from 'node:dgram';
import type { Socket, SocketType } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { formatEndpoint } from '../common/endpoint.js';
import type { Endpoint } from '../common/endpoint.js';
import { debug } from '../common/debug.js';
import type { ResolvedSocketOptions } from './datagram-options.js';

/** @internal The socket of a DatagramServer (tests read its buffer sizes). */
export const kSocket = Symbol('socket');

/** A packet's source or destination as node:dgram reports it. */
export interface DatagramAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * The address to use for `host` and its socket type: an IP address as it is, a host name
 * through the resolver (its first address, as net.connect does).
 */
export async function resolveHost(host: string): Promise<{ address: string; type: SocketType }> {
  const ip = isIP(host);
  if (ip !== 0) return { address: host, type: ip === 6 ? 'udp6' : 'udp4' };
  const found = await lookup(host);
  return { address: found.address, type: found.family === 6 ? 'udp6' : 'udp4' };
}

function transportError(what: string, endpoint: Endpoint, cause: NodeJS.ErrnoException): SessionError {
  return new SessionError(
    ErrorCode.TRANSPORT,
    `${what} ${formatEndpoint(endpoint)}: ${cause.code ?? cause.message}`,
    { cause },
  );
}

/** @internal A socket bound to `endpoint` (port 0: any free port), with the address it got. */
export async function bindSocket(
  endpoint: Endpoint,
  options: ResolvedSocketOptions = {},
): Promise<{ socket: Socket; address: Endpoint }> {
  let resolved: { address: string; type: SocketType };
  try {
    resolved = await resolveHost(endpoint.host);
  } catch (err) {
    throw transportError('cannot listen on', endpoint, err as NodeJS.ErrnoException);
  }
  const socket = createSocket({ type: resolved.type, ...options });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: resolved.address, port: endpoint.port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    socket.close();
    throw transportError('cannot listen on', endpoint, err);
  });
  const bound = socket.address();
  return { socket, address: { host: bound.address, port: bound.port } };
}

/**
 * @internal
 * A socket connected to `target` (it receives only that address's packets: the kernel
 * filters the rest). `localPort`, if given, is tried first (a port the server gave a cookie
 * for, §D2); if it is taken the socket gets any free port. Rejects with ERR_TRANSPORT when
 * the host does not resolve or the socket cannot be set up. `options`: the buffer sizes.
 */
export async function connectSocket(
  target: Endpoint,
  localPort = 0,
  options: ResolvedSocketOptions = {},
): Promise<{ socket: Socket; remote: DatagramAddress }> {
  let resolved: { address: string; type: SocketType };
  try {
    resolved = await resolveHost(target.host);
  } catch (err) {
    throw transportError('cannot resolve', target, err as NodeJS.ErrnoException);
  }
  const connect = async (port: number): Promise<Socket> => {
    const socket = createSocket({ type: resolved.type, ...options });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, exclusive: true }, () => {
          socket.connect(target.port, resolved.address, () => {
            socket.off('error', reject);
            resolve();
          });
        });
      });
    } catch (err) {
      closeQuietly(socket);
      throw err;
    }
    return socket;
  };
  let socket: Socket;
  try {
    socket = await connect(localPort).catch((err: NodeJS.ErrnoException) => {
      if (localPort === 0) throw err;
      debug('datagram client: local port %d: %s; any port then', localPort, err.code ?? err.message);
      return connect(0);
    });
  } catch (err) {
    throw transportError('cannot connect to', target, err as NodeJS.ErrnoException);
  }
  return {
    socket,
    remote: {
      address: resolved.address,
      port: target.port,
      family: resolved.type === 'udp6' ? 'IPv6' : 'IPv4',
    },
  };
}

/** Closes `socket`; resolves once its port is free again. Never rejects. */
export function closeSocket(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** Closes a socket that may already be closed. */
export function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch (err) {
    debug('dgram socket close: %s', (err as Error).message);
  }
}
