/**
 * The sending half of a datagram session: seals records with the outbound context and
 * hands the packets to the owner's socket, keeping count of the bytes the socket has not
 * finished with (`maxQueuedBytes`, PROTOCOL.md §D8 "bytes queued per session").
 */
import type { Buffer } from 'node:buffer';
import { DatagramRecordType } from '../protocol/datagram/constants.js';
import type { DatagramOutbound } from '../protocol/datagram/contexts.js';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { debug, describeError } from '../common/debug.js';
import type { DatagramSessionInit } from './session-types.js';

export interface SenderHooks {
  /** Where packets go now (a server's session may have moved, §D7). */
  remote(): { readonly address: string; readonly port: number };
  /** A packet left for the socket (the keepalive clock). */
  sent(): void;
  /** Sealing or the socket failed: the session ends with `error` (an alert only if `alert`). */
  failed(error: unknown, alert: boolean): void;
  /** The sending direction moved to epoch `epoch` (§D5) with the record just sealed. */
  moved(epoch: number): void;
}

export class SessionSender {
  readonly #outbound: DatagramOutbound;
  readonly #transmit: DatagramSessionInit['transmit'];
  readonly #maxQueuedBytes: number;
  readonly #hooks: SenderHooks;
  /** The outbound epoch as last seen: one getter read and an integer compare per record. */
  #epoch: number;
  /** Bytes handed to the socket and not yet released by its `done()`. */
  queuedBytes = 0;
  /** Record packets handed to the socket (retransmissions and the last Alert included), and their bytes. */
  records = 0;
  bytes = 0;

  constructor(init: DatagramSessionInit, hooks: SenderHooks) {
    this.#outbound = init.outbound;
    this.#transmit = init.transmit;
    this.#maxQueuedBytes = init.options.maxQueuedBytes;
    this.#hooks = hooks;
    this.#epoch = init.outbound.epoch;
  }

  /** After a seal: tells the hooks if the epoch moved with it (§D5). */
  #checkEpoch(): void {
    const epoch = this.#outbound.epoch;
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    this.#hooks.moved(epoch);
  }

  /** Whether a record with a `payloadLength`-byte payload fits under `maxQueuedBytes` now. */
  fits(payloadLength: number): boolean {
    return this.queuedBytes + this.#outbound.packetSize(payloadLength) <= this.#maxQueuedBytes;
  }

  /**
   * Seals a record and sends it. False if that failed: the session has then failed
   * (keys exhausted, contexts destroyed, the socket gone).
   */
  record(type: DatagramRecordType, payload: Buffer): boolean {
    let packet: Buffer;
    try {
      packet = this.#outbound.seal(type, payload);
    } catch (err) {
      this.#hooks.failed(err, false);
      return false;
    }
    this.#checkEpoch();
    return this.packet(packet);
  }

  /** Hands a sealed packet to the socket; false if the socket threw (the session has failed). */
  packet(packet: Buffer): boolean {
    const size = packet.length;
    this.queuedBytes += size;
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      this.queuedBytes -= size;
    };
    try {
      this.#transmit(packet, this.#hooks.remote(), release);
      this.records++;
      this.bytes += size;
    } catch (err) {
      // The owner's socket is gone (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing more can be sent.
      release();
      const error = new SessionError(ErrorCode.TRANSPORT, `transport failed: ${describeError(err)}`, {
        cause: err,
      });
      this.#hooks.failed(error, false);
      return false;
    }
    this.#hooks.sent();
    return true;
  }

  /** Sends an Alert record on the way out; a failure to seal or send it changes nothing more. */
  alert(payload: Buffer): void {
    try {
      const packet = this.#outbound.seal(DatagramRecordType.Alert, payload);
      this.#checkEpoch();
      this.#transmit(packet, this.#hooks.remote(), () => {});
      this.records++;
      this.bytes += packet.length;
    } catch (err) {
      debug('could not send an alert: %s', describeError(err));
    }
  }
}
