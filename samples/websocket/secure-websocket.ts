/**
 * A secsess session over WebSocket messages, driven by the sans-IO core of
 * `@secsess/sdk/core`: no Node Duplex anywhere. Each binary WebSocket message carries
 * whatever bytes the core handed to `send` (frames may be split or joined in any way:
 * `receive()` reassembles them); the application sees whole plaintext messages.
 *
 * This is the transport's whole job: move bytes both ways, time the handshake out, and end
 * the socket when the core fails (after sending the alert it hands over) or closes.
 */
import { EventEmitter } from 'node:events';
import { Buffer } from 'node:buffer';
import type { WebSocket } from 'ws';
import { ClientConnection, ErrorCode, ServerConnection, SessionError, TimeoutError } from '@secsess/sdk/core';
import type {
  ClientConnectionOptions,
  ConnectionHandler,
  DecryptRequest,
  HandshakeInfo,
  ServerConnectionOptions,
} from '@secsess/sdk/core';

/** Events of {@link SecureWebSocket}. */
export interface SecureWebSocketEvents {
  /** The handshake completed. */
  open: [info: HandshakeInfo];
  /** One whole message from the peer. */
  message: [data: Buffer];
  /** The session failed (a coded error); `'close'` follows. */
  error: [error: SessionError];
  /** The session is over: the authenticated close code, or 1006 without one. */
  close: [code: number, reason: string];
}

/** The side of the session: a client names the server's key, a server holds its keys. */
export type SecureWebSocketRole =
  | { readonly role: 'client'; readonly connection: ClientConnectionOptions }
  | {
      readonly role: 'server';
      readonly connection: ServerConnectionOptions;
      /**
       * The RSA plug: decrypts the request elsewhere (resolves null on failure). Required
       * when `connection.keys` holds only public keys. Default: in place, on this thread.
       */
      readonly decrypt?: (request: DecryptRequest) => Promise<Buffer | null>;
    };

export class SecureWebSocket extends EventEmitter<SecureWebSocketEvents> {
  readonly #ws: WebSocket;
  readonly #conn: ClientConnection | ServerConnection;
  #timer: NodeJS.Timeout | undefined;
  #ended = false;

  /**
   * Runs a session over `ws` (open already). The client starts the handshake at once.
   * @param handshakeTimeout Milliseconds the handshake may take. Default 10 000.
   */
  constructor(ws: WebSocket, side: SecureWebSocketRole, handshakeTimeout = 10_000) {
    super();
    this.#ws = ws;
    const handler: ConnectionHandler = {
      send: (bytes) => ws.send(bytes, { binary: true }),
      established: (info) => {
        clearTimeout(this.#timer);
        this.emit('open', info);
      },
      message: (data) => this.emit('message', Buffer.from(data)), // a copy: the view is the core's
      peerClosed: (code, reason) => this.#end(code, reason),
    };
    if (side.role === 'client') {
      this.#conn = new ClientConnection(handler, side.connection);
    } else {
      const decrypt = side.decrypt;
      const server: ServerConnection = new ServerConnection(
        decrypt
          ? {
              ...handler,
              // The handshake waits for the answer; completeDecrypt ignores a late one.
              decryptSecret: (request: DecryptRequest) =>
                void decrypt(request).then(
                  (secret) => this.#guard(() => server.completeDecrypt(secret)),
                  (err: unknown) => this.#fail(err),
                ),
            }
          : handler,
        side.connection,
      );
      this.#conn = server;
    }
    this.#timer = setTimeout(
      () => this.#fail(new TimeoutError('handshake', handshakeTimeout)),
      handshakeTimeout,
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.#fail(new SessionError(ErrorCode.PROTOCOL, 'protocol: a text WebSocket message'));
        return;
      }
      this.#guard(() => this.#conn.receive(data));
    });
    ws.on('close', () => {
      if (this.#ended) return;
      // The socket ended without an authenticated close: the stream may have been cut short.
      this.#fail(new SessionError(ErrorCode.TRUNCATED, 'the WebSocket closed without a secsess close'));
    });
    ws.on('error', (err) => {
      this.#fail(new SessionError(ErrorCode.TRANSPORT, `WebSocket: ${err.message}`, { cause: err }));
    });
    if (this.#conn instanceof ClientConnection) this.#guard(() => (this.#conn as ClientConnection).start());
  }

  /** The core's state: `'handshake'`, `'open'`, `'closing'` or `'closed'`. */
  get state(): string {
    return this.#conn.state;
  }

  /** Sends one message. Throws ERR_SESSION_CLOSED before `'open'` or after a close. */
  send(data: string | Uint8Array): void {
    this.#conn.write(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data));
  }

  /** Sends an authenticated close; `'close'` follows once the peer answered. */
  close(code?: number, reason?: string): void {
    this.#conn.close(code, reason);
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(error: unknown): void {
    if (this.#ended) return;
    const err =
      error instanceof SessionError
        ? error
        : new SessionError(ErrorCode.PROTOCOL, `internal error: ${String(error)}`, { cause: error });
    this.#conn.fail(err); // hands the alert to send(), if one is due
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.#end(1006, '');
  }

  #end(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    // The peer has our close (or alert) once it is flushed: ws.close() sends after queued data.
    this.#ws.close(code === 1006 ? 1002 : 1000);
    this.emit('close', code, reason);
  }
}
