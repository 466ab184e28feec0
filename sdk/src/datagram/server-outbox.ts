/**
 * The datagram server's sending side: every packet it hands to its socket — answers to
 * handshake packets, never larger than the packet they answer (PROTOCOL.md §D3
 * "Amplification bound"), and its sessions' records — counted while the socket holds them,
 * so that `stop()` can wait (briefly) for the last Close records to leave before closing it.
 */
import type { Socket } from 'node:dgram';
import { debug } from '../common/debug.js';
import { kCount } from './server-counters.js';
import type { DatagramCounters } from './server-counters.js';

/** How long `drain()` waits for the packets handed to the socket to leave, at most (ms). */
const DRAIN_MS = 1000;

export class ServerOutbox {
  readonly #counters: DatagramCounters;
  /** The server's socket while listening; null sends nothing. */
  socket: Socket | null = null;
  /** Packets handed to the socket and not yet sent. */
  #inflight = 0;
  #drained: (() => void) | null = null;

  constructor(counters: DatagramCounters) {
    this.#counters = counters;
  }

  /** Sends an answer to a handshake packet of `requestSize` bytes, never a larger one (§D3). */
  answer(packet: Buffer, requestSize: number, to: { readonly address: string; readonly port: number }): void {
    if (packet.length > requestSize) {
      this.#counters[kCount]('oversizeAnswers');
      debug('datagram server: answer of %d bytes to a %d-byte packet not sent', packet.length, requestSize);
      return;
    }
    this.transmit(packet, to, noop);
  }

  /** Hands `packet` to the socket; `done` once the socket has finished with it (or at once without one). */
  readonly transmit = (
    packet: Buffer,
    to: { readonly address: string; readonly port: number },
    done: () => void,
  ): void => {
    const socket = this.socket;
    if (!socket) {
      done();
      return;
    }
    this.#inflight++;
    this.#counters[kCount]('sent');
    try {
      socket.send(packet, to.port, to.address, (err) => {
        if (err) debug('datagram server: send to %s port %d: %s', to.address, to.port, err.message);
        this.#sent(done);
      });
    } catch (err) {
      debug('datagram server: send: %s', (err as Error).message);
      this.#sent(done);
    }
  };

  /** Waits until every packet handed to the socket has left it, at most DRAIN_MS. */
  drain(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, DRAIN_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#drained = done;
    });
  }

  #sent(done: () => void): void {
    this.#inflight--;
    done();
    if (this.#inflight === 0 && this.#drained) {
      const drained = this.#drained;
      this.#drained = null;
      drained();
    }
  }
}

export function noop(): void {}
