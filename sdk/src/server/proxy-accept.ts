/**
 * The server's side of the PROXY protocol (`proxyProtocol`, SECURITY.md "Behind a load
 * balancer"): before a session starts, the header of a connection from a trusted address is
 * read (proxy-header.ts), and the connection then goes on as if it came from the client the
 * header names; a connection from anywhere else that begins with a PROXY signature is ended.
 *
 * A header is read with the socket flowing into the parser only, never into a session: the
 * parser holds at most PROXY_V2_MAX_LENGTH bytes, the whole header must arrive within
 * `proxyProtocol.timeout`, and the bytes after it are put back (`unshift`) for the session,
 * whose handshake timer starts then. Trusted connections still sending their header count
 * toward `maxConnections` (checked before a byte is read, as for any connection); the
 * per-address limits and `handshakeRate` are applied after it, to the client's address.
 * Every failure drops the connection (no secsess byte was said: no alert) and is reported as
 * `'handshakeError'` with ERR_PROXY_PROTOCOL; the server and its other sessions go on.
 */
import type { Socket } from 'node:net';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { kAbortHandshake } from '../stream/session-types.js';
import type { ProxiedAddresses } from '../stream/session-types.js';
import type { Session } from '../stream/session.js';
import type { ConnectionAdmission } from './admission.js';
import { refuseSocket } from './admission.js';
import { looksLikeProxyHeader, ProxyHeaderParser } from './proxy-header.js';
import { emitRefused, remoteLabel, reportHandshakeFailure } from './server-events.js';
import type { MeteredServer, RemoteInfo } from './server-events.js';
import type { ResolvedProxyProtocol } from './server-options.js';

/** Starts a connection's session once its header (if any) is read; null if it was not started. */
export type StartSession = (
  socket: Socket,
  remote: RemoteInfo,
  proxied: ProxiedAddresses | undefined,
) => Session | null;

function refusal(reason: string): SessionError {
  return new SessionError(ErrorCode.PROXY_PROTOCOL, `PROXY header: ${reason}`);
}

export class ProxyAccept {
  readonly #options: ResolvedProxyProtocol;
  readonly #server: MeteredServer;
  readonly #admission: ConnectionAdmission;
  /** Trusted connections still sending their header. */
  readonly #reading = new Set<Socket>();

  constructor(options: ResolvedProxyProtocol, server: MeteredServer, admission: ConnectionAdmission) {
    this.#options = options;
    this.#server = server;
    this.#admission = admission;
  }

  /** Connections still sending their header. */
  get size(): number {
    return this.#reading.size;
  }

  /**
   * Starts `socket` (accepted, paused, nothing read): a trusted peer's header is read first,
   * then `start` is called with the client's addresses; any other connection is started at
   * once, watched for a PROXY signature in its first bytes. `others`: the established
   * sessions (for `maxConnections`).
   */
  accept(socket: Socket, remote: RemoteInfo, others: number, start: StartSession): void {
    if (!this.#options.trusted.has(remote.address)) {
      const session = start(socket, remote, undefined);
      if (session) this.#guard(socket, session);
      return;
    }
    if (this.#admission.connectionsFull(others + this.#reading.size)) {
      refuseSocket(socket);
      emitRefused(this.#server, 'maxConnections', remote);
      return;
    }
    this.#read(socket, remote, start);
  }

  /**
   * Ends `session` with ERR_PROXY_PROTOCOL if the first bytes its untrusted peer sends begin a
   * PROXY header, before the session reads them (no secsess frame begins so). Only the first
   * read is looked at: one shorter than the signature is judged on what it holds.
   */
  #guard(socket: Socket, session: Session): void {
    // Before the session's own listener; the socket flows from the next tick on.
    socket.prependOnceListener('data', (chunk: Buffer) => {
      if (looksLikeProxyHeader(chunk)) session[kAbortHandshake](refusal('sent by an address not trusted'));
    });
  }

  /** Drops the connections still sending their header (the server stops); nothing is reported. */
  destroyAll(): void {
    const reading = [...this.#reading];
    this.#reading.clear();
    for (const socket of reading) socket.destroy();
  }

  #read(socket: Socket, remote: RemoteInfo, start: StartSession): void {
    const parser = new ProxyHeaderParser();
    const reading = this.#reading;
    reading.add(socket);
    const ms = this.#options.timeout;
    const finish = (error: SessionError | null): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
      if (!reading.delete(socket)) return;
      if (error) {
        socket.on('error', (err: NodeJS.ErrnoException) =>
          debug('proxied socket: %s', err.code ?? err.message),
        );
        socket.destroy();
        reportHandshakeFailure(this.#server, error, remote, undefined);
        return;
      }
      const addresses = parser.header!.addresses;
      if (!addresses) {
        debug('server: PROXY header from %s: LOCAL/UNKNOWN, its own address applies', remoteLabel(remote));
        start(socket, remote, undefined);
        return;
      }
      const { source, destination } = addresses;
      const client: RemoteInfo = { address: source.address, port: source.port, family: source.family };
      debug('server: PROXY header from %s: client %s', remoteLabel(remote), remoteLabel(client));
      start(socket, client, {
        remoteAddress: source.address,
        remotePort: source.port,
        localAddress: destination.address,
        localPort: destination.port,
      });
    };
    const onData = (chunk: Buffer): void => {
      let end: number;
      try {
        end = parser.push(chunk);
      } catch (err) {
        finish(err as SessionError);
        return;
      }
      if (end < 0) return;
      // The stream after the header is the session's: read by it, from the socket's buffer.
      socket.pause();
      if (end < chunk.length) socket.unshift(chunk.subarray(end));
      finish(null);
    };
    const onEnd = (): void => finish(refusal('the connection ended before the header was complete'));
    const onError = (err: NodeJS.ErrnoException): void =>
      finish(refusal(`the connection failed before the header was complete (${err.code ?? err.message})`));
    const timer = setTimeout(() => finish(refusal(`no complete header within ${ms} ms`)), ms);
    timer.unref();
    socket.on('data', onData).once('end', onEnd).once('close', onEnd).on('error', onError);
    socket.resume();
  }
}

/** Where a socket's peer is (what it says at accept; Node caches it). */
export function remoteOf(socket: Socket): RemoteInfo {
  return { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily };
}
