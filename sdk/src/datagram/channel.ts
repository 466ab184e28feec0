/**
 * A datagram channel from an open stream session (PROTOCOL.md §D9): no second handshake.
 * Both sides derive the channel's conn_id and epoch-0 secrets from the stream session's
 * exporter, so the channel has the stream's identities (server key, client key) and keys
 * of its own that reveal nothing of the stream's.
 *
 *   client: `openDatagramChannel(streamSession, endpoint)` → a DatagramSession over its own
 *           connected UDP socket; it sends a Ping at once and a fresh one (400 ms doubling to
 *           4 s) until the server's first record opens (10 s at most: then ERR_TIMEOUT).
 *   server: `datagramServer.attach(streamSession)` → a DatagramSession in that server's
 *           conn_id table; it learns the client's address from the first record that opens
 *           (§D7) and sends nothing before.
 *
 * The derivation is deterministic, so a stream session gives at most one channel per side
 * (a second would reuse keys and GCM nonces): a second call is ERR_INVALID_STATE. The
 * channel lives on its own once made; closing the stream does not close it.
 */
import type { Buffer } from 'node:buffer';
import type { RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { DatagramInbound, DatagramOutbound } from '../protocol/datagram/contexts.js';
import { PacketType } from '../protocol/datagram/constants.js';
import { channelSecrets } from '../protocol/datagram/key-schedule.js';
import { debug } from '../common/debug.js';
import { logChannelSecrets } from '../observe/keylog.js';
import { abortError, checkSignal } from '../common/deferred.js';
import { parseEndpoint } from '../common/endpoint.js';
import type { EndpointInput } from '../common/endpoint.js';
import type { Session } from '../stream/session.js';
import { kExporter } from '../stream/session-types.js';
import { closeQuietly, connectSocket } from './datagram-socket.js';
import { createDatagramSession } from './datagram-session.js';
import type { DatagramSession } from './datagram-session.js';
import { contextOptions, resolveDatagramSessionOptions } from './session-options.js';
import type { DatagramSessionOptions, ResolvedDatagramSessionOptions } from './session-options.js';
import { kEstablished } from './session-types.js';
import type { DatagramRemote, DatagramSessionInit } from './session-types.js';

/** Stream sessions (either side, in this process) that have given their channel. */
const claimed = new WeakSet<Session>();

/** Options of {@link openDatagramChannel}: a datagram session's, and an AbortSignal. */
export interface DatagramChannelOptions extends DatagramSessionOptions {
  /** Aborts setting up the socket (ERR_ABORTED). */
  readonly signal?: AbortSignal;
}

interface ChannelKeys {
  readonly outbound: DatagramOutbound;
  readonly inbound: DatagramInbound;
  /** The conn_id as the server's table keys it (latin1). */
  readonly key: string;
  readonly info: DatagramSessionInit['info'];
}

/**
 * The channel's contexts for this side of `stream`, which must be open and have played
 * `role` in its handshake; claims the stream session (one channel each).
 */
function channelKeys(
  stream: Session,
  role: 'client' | 'server',
  options: ResolvedDatagramSessionOptions,
): ChannelKeys {
  const exported = typeof stream?.[kExporter] === 'function' ? stream[kExporter]() : null;
  if (!exported) {
    throw new SessionError(ErrorCode.INVALID_STATE, 'datagram channel: the stream session is not open');
  }
  const { secret, role: streamRole } = exported;
  try {
    if (streamRole !== role) {
      throw new TypeError(
        role === 'client'
          ? 'openDatagramChannel() takes the client side of a stream session; the server uses datagramServer.attach()'
          : 'datagramServer.attach() takes a session of a Server; the client uses openDatagramChannel()',
      );
    }
    if (claimed.has(stream) || !secret) {
      throw new SessionError(
        ErrorCode.INVALID_STATE,
        'datagram channel: this stream session already has one (its keys cannot be used twice)',
      );
    }
    const suite = stream.suite!;
    const { connectionId, c2s, s2c } = channelSecrets(suite, secret);
    logChannelSecrets(stream, c2s, s2c);
    try {
      const context = {
        ...contextOptions(options),
        set: { asymmetric: suite.asymmetric, symmetric: suite.symmetric, hash: suite.hash },
        connectionId,
      };
      const outbound = new DatagramOutbound(role === 'client' ? c2s : s2c, context);
      const inbound = new DatagramInbound(role === 'client' ? s2c : c2s, context);
      claimed.add(stream);
      stream[kExporter](true); // the secret has done its one job: wipe it now
      return {
        outbound,
        inbound,
        key: connectionId.toString('latin1'),
        info: { suite, serverKey: stream.serverKey, clientKey: stream.clientKey },
      };
    } finally {
      c2s.fill(0);
      s2c.fill(0);
    }
  } finally {
    secret?.fill(0);
  }
}

/**
 * Opens the datagram channel of a client's open stream session (PROTOCOL.md §D9) to the
 * server's `DatagramServer` at `endpoint`, which must `attach()` the server's side of the
 * same stream session. No handshake: the session is usable at once. Its first record is a
 * Ping, sent again (400 ms, doubling to 4 s) until the server's first record opens; a
 * server that has not answered within 10 s ends the channel with ERR_TIMEOUT (`'handshake'`).
 *
 * @param stream A session from `Client.connect()` (or the client side of `secureDuplex()`), open.
 * @param endpoint The DatagramServer's address: `"host:port"` or `{ host, port }`.
 * @param options The datagram session's options (replay, window, keepalive, idle, …).
 * @throws ERR_INVALID_STATE if the stream session is not open or already gave its channel;
 *   TypeError for the server side of a stream session; ERR_TRANSPORT if the socket fails.
 */
export async function openDatagramChannel(
  stream: Session,
  endpoint: EndpointInput,
  options: DatagramChannelOptions = {},
): Promise<DatagramSession> {
  const target = parseEndpoint(endpoint);
  const { signal, ...sessionOptions } = options ?? {};
  checkSignal(signal, 'options.signal');
  const resolved = resolveDatagramSessionOptions(sessionOptions);
  if (signal?.aborted) throw abortError('openDatagramChannel', signal);
  const { socket, remote } = await connectSocket(target);
  let keys: ChannelKeys;
  try {
    if (signal?.aborted) throw abortError('openDatagramChannel', signal);
    keys = channelKeys(stream, 'client', resolved);
  } catch (err) {
    closeQuietly(socket);
    throw err;
  }
  const send = (packet: Buffer, done: () => void): void => {
    try {
      socket.send(packet, (err) => {
        if (err) debug('datagram channel: send: %s', err.message);
        done();
      });
    } catch (err) {
      debug('datagram channel: send: %s', (err as Error).message);
      done();
    }
  };
  const onMessage = (packet: Buffer, rinfo: RemoteInfo): void => {
    if (packet.length > 0 && packet[0] === PacketType.Record) session.receive(packet, rinfo);
  };
  const session = createDatagramSession({
    role: 'client',
    outbound: keys.outbound,
    inbound: keys.inbound,
    remote,
    transmit: (packet, _to, done) => send(packet, done),
    options: resolved,
    info: keys.info,
    // §D9: the client speaks first (a Ping at once, then again), so the server learns its address.
    resend: 'ping',
    onEnd: () => {
      socket.off('message', onMessage);
      closeQuietly(socket);
    },
  });
  socket.on('message', onMessage);
  // ICMP errors (nobody listening yet) are not fatal: the Ping is sent again.
  socket.on('error', (err) => debug('datagram channel socket: %s', err.message));
  debug('datagram channel to %s port %d opened', remote.address, remote.port);
  session[kEstablished](socket);
  return session;
}

/** @internal What DatagramServer gives {@link attachChannel}. */
export interface ChannelHost {
  /** Whether the server is listening (else ERR_INVALID_STATE). */
  readonly listening: boolean;
  /** Whether `maxSessions` is reached (else ERR_SERVER_BUSY). */
  readonly full: boolean;
  readonly options: ResolvedDatagramSessionOptions;
  readonly transmit: DatagramSessionInit['transmit'];
  /** The server's address as a label. */
  local(): string;
  /** Whether a session or handshake of the server already has this conn_id. */
  has(key: string): boolean;
  /** Puts the session in the server's table under `key`. */
  add(key: string, session: DatagramSession): void;
  /** The session ended: the server forgets it (if it is still the one under `key`). */
  remove(key: string, session: DatagramSession): void;
}

/**
 * @internal The server's side of a channel (`DatagramServer.attach`): a session whose
 * address is unknown until the client's first record opens; until then what it would send
 * is dropped (it has nowhere to go).
 */
export function attachChannel(stream: Session, host: ChannelHost): DatagramSession {
  if (!host.listening) {
    throw new SessionError(ErrorCode.INVALID_STATE, 'attach: the datagram server is not listening');
  }
  if (host.full) throw new SessionError(ErrorCode.SERVER_BUSY, 'attach: maxSessions reached');
  const keys = channelKeys(stream, 'server', host.options);
  if (host.has(keys.key)) {
    keys.outbound.destroy();
    keys.inbound.destroy();
    throw new SessionError(ErrorCode.INVALID_STATE, 'datagram channel: its conn_id is in use');
  }
  // Port 0: not known yet. The first record that opens moves the session to its source (§D7).
  const address = stream.remoteAddress ?? '';
  const unknown: DatagramRemote = { address, port: 0, family: isIPv6(address) ? 'IPv6' : 'IPv4' };
  const session = createDatagramSession({
    role: 'server',
    outbound: keys.outbound,
    inbound: keys.inbound,
    remote: unknown,
    transmit: (packet, to, done) => (to.port === 0 ? done() : host.transmit(packet, to, done)),
    options: host.options,
    info: keys.info,
    onEnd: (ended) => host.remove(keys.key, ended),
  });
  host.add(keys.key, session);
  session[kEstablished](host.local);
  return session;
}
