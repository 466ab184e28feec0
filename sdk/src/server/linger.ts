/**
 * A short, bounded linger for the socket of a failed handshake. The session has written its
 * alert (if any) and ended our side; destroying the socket at once would make the kernel
 * answer whatever the client sent meanwhile (a client is OPEN after its ClientFinished and
 * may send data behind it) with a reset, and a reset can overtake the alert in the client's
 * receive queue: it would see ERR_TRANSPORT instead of the code. So the socket keeps reading
 * (the closed session drops what arrives) for at most {@link LINGER_MS}, then is destroyed,
 * or sooner when the peer closes. Bounded in time and in number: past
 * {@link MAX_LINGERING} sockets at once, a failed handshake's socket is destroyed at once,
 * as before.
 */
import type { Duplex } from 'node:stream';

/** How long a failed handshake's socket may linger. */
export const LINGER_MS = 500;
/** Sockets lingering at once, server-wide. */
export const MAX_LINGERING = 256;

export class Lingerer {
  readonly #sockets = new Set<Duplex>();

  /** Lingers `socket` (already ended by its session) or destroys it at once when full. */
  add(socket: Duplex): void {
    if (socket.destroyed) return;
    if (this.#sockets.size >= MAX_LINGERING) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.#sockets.delete(socket);
    });
    if (!socket.writableEnded) socket.end();
    socket.resume();
  }

  /** Destroys every lingering socket (the server stops). */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  get size(): number {
    return this.#sockets.size;
  }
}
