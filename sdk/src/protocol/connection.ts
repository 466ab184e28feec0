/**
 * The sans-IO connection: bytes in through `receive()`, bytes out through `handler.send()`,
 * messages and events through the handler. No sockets, timers or process state: the
 * transport (sdk/src/stream/session.ts) drives it. This file holds what both roles share
 * once keys exist: the receive path (records, reassembly, batches, ping replies, key
 * updates, the peer's End), close and failure with alerts. The send path is
 * message-sender.ts, which this class extends; end-records.ts reads and makes the Close and
 * End payloads; alerts.ts maps errors to alerts and back; connection-types.ts the handler.
 */
import { Buffer } from 'node:buffer';
import { ALERT_FOR_CODE, errorForAlert, fromPeerAlert } from './alerts.js';
import { checkBatch, readBatchLength } from './batch.js';
import {
  AlertCode,
  CLOSE_NORMAL,
  DEFAULT_MAX_FRAGMENT,
  DEFAULT_MAX_MESSAGE_SIZE,
  FrameType,
  MAX_FRAGMENT,
  MAX_HANDSHAKE_FRAME,
  RecordType,
} from './constants.js';
import type {
  ConnectionHandler,
  ConnectionOptions,
  ConnectionState,
  HandshakeInfo,
} from './connection-types.js';
import { secureRandom } from './crypto.js';
import type { RandomSource } from './crypto.js';
import { checkEnd, decodeClose, encodeClose, protocolError } from './end-records.js';
import type { HandshakeError } from './errors.js';
import { ErrorCode, SessionError } from './errors.js';
import { FrameHeaderError, FrameReader } from './frame-reader.js';
import { detachedByListener, headerError } from './frame-errors.js';
import type { FrameSink } from './frame-reader.js';
import { decodeAlertFrame, encodeAlertFrame } from './handshake-messages.js';
import { MessageSender } from './message-sender.js';
import { Reassembly } from './reassembly.js';
import { BufferView } from './record-bytes.js';
import { sentRecords } from './record-pool.js';
import { DEFAULT_KEY_BUDGET, maxRecordBody } from './record-layer.js';
import type { KeyBudget } from './record-layer.js';
import type { Suite } from './suite.js';

export { errorForAlert } from './alerts.js';
export type {
  ConnectionHandler,
  ConnectionOptions,
  ConnectionState,
  HandshakeInfo,
} from './connection-types.js';

export abstract class Connection extends MessageSender implements FrameSink {
  protected readonly random: RandomSource;
  protected readonly maxMessageSize: number;
  protected readonly keyBudget: KeyBudget;
  /**
   * The client from the ClientFinished it sent until the first record from the server
   * after ServerFinished: the server may not have accepted that ClientFinished yet, so it
   * may still answer with a plaintext alert (HandshakeFailed, Timeout), which the client
   * accepts in that window (PROTOCOL.md §6).
   */
  protected awaitingAcceptance = false;
  protected suite: Suite | null = null;
  /** Set once the peer has shown it holds the session keys; alerts may then be encrypted. */
  protected peerHasKeys = false;
  /**
   * Largest record body the frame reader accepts now: -1 before keys exist, then (set by the
   * role with the keys) the sealed size of the one handshake record the peer may send, and a
   * full record once that record has arrived (PROTOCOL.md, frame limits per state).
   */
  protected recordLimit = -1;
  /**
   * The exporter (PROTOCOL.md §D9), derived with the traffic secrets from `master` (which is
   * wiped at once); handed out only while OPEN, wiped when the connection ends.
   */
  protected exporter: Buffer | null = null;
  /** The resumption secret (§6a) while a ticket may still be sent or received; wiped at the end. */
  protected psk: Buffer | null = null;
  readonly #reader: FrameReader;
  /** The message being reassembled from DataMore fragments (reassembly.ts). */
  readonly #reassembly: Reassembly;
  /** The record being handled has handed its payload to the application as a message. */
  #handedOut = false;

  protected constructor(handler: ConnectionHandler, options: ConnectionOptions) {
    // Checked in this order: maxMessageSize, then maxFragmentSize.
    const maxMessageSize = checkSize(
      'maxMessageSize',
      options.maxMessageSize,
      DEFAULT_MAX_MESSAGE_SIZE,
      0x7fffffff,
    );
    super(handler, checkSize('maxFragmentSize', options.maxFragmentSize, DEFAULT_MAX_FRAGMENT, MAX_FRAGMENT));
    this.random = options.random ?? secureRandom;
    this.maxMessageSize = maxMessageSize;
    this.keyBudget = options.keyBudget ?? DEFAULT_KEY_BUDGET;
    this.#reader = new FrameReader(this);
    this.#reassembly = new Reassembly(maxMessageSize);
    if (options.pooled === true) this.sendPool = sentRecords;
  }

  /** `'handshake'` → `'open'` → `'closing'` (our close sent) → `'closed'`. */
  get state(): ConnectionState {
    return this.connState;
  }

  /** Whether this side has sent End (PROTOCOL.md §5 "Half-close"): it sends no more messages. */
  get writableEnded(): boolean {
    return this.sentEnd;
  }

  /** Whether the peer's End has arrived: the peer sends no more messages. */
  get readableEnded(): boolean {
    return this.receivedEnd;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.#reader.buffered + this.#reassembly.length;
  }

  /**
   * Feeds bytes from the peer, in order, chunked in any way. The handler's callbacks run
   * from inside this call. Throws a SessionError on any fatal condition; the caller then
   * calls {@link fail} and ends the transport. Bytes after the connection closed are ignored.
   */
  receive(chunk: Buffer): void {
    if (this.connState === 'closed') return;
    try {
      this.#reader.push(chunk);
    } catch (err) {
      if (err instanceof FrameHeaderError)
        throw headerError(err, this.connState === 'handshake', this.suite !== null);
      throw err;
    }
  }

  /**
   * Sends an authenticated close. Messages the peer sent before it saw ours are still
   * delivered; the connection is closed when the peer's close arrives.
   */
  close(code: number = CLOSE_NORMAL, reason = ''): void {
    const body = encodeClose(code, reason);
    if (this.sentClose || this.connState === 'closed') return;
    if (this.connState === 'handshake' || !this.sealer) {
      this.#finish();
      return;
    }
    this.sentClose = true;
    this.connState = 'closing';
    this.sendRecord(this.sealer.seal(RecordType.Close, body));
  }

  /**
   * Ends the connection because of `error`, sending the peer an alert when one is safe and
   * useful: encrypted once keys exist, plaintext for version/suite/key failures before.
   * Record authentication failures and failed key confirmation send nothing the attacker
   * could learn from beyond the generic alert.
   */
  fail(error: unknown): void {
    if (this.connState === 'closed') return;
    const code =
      error instanceof SessionError
        ? fromPeerAlert.has(error)
          ? undefined
          : ALERT_FOR_CODE[error.code]
        : AlertCode.Internal;
    try {
      if (code !== undefined && !this.sentClose) {
        if (this.sealer && this.peerHasKeys) {
          const body = Buffer.allocUnsafe(2);
          body.writeUInt16BE(code);
          this.handler.send(this.sealer.seal(RecordType.Alert, body));
        } else if (this.plaintextAlertAllowed(code)) {
          this.handler.send(encodeAlertFrame(code));
        }
      }
    } finally {
      this.#finish();
    }
  }

  /** Whether a plaintext alert with this code may be sent during the handshake. */
  protected abstract plaintextAlertAllowed(code: AlertCode): boolean;

  /** Handles one frame during the handshake. */
  protected abstract onHandshakeFrame(type: number, frame: Buffer): void;

  /** The error for a handshake record that did not open (see onFrame). */
  protected abstract handshakeRecordRejected(cause: unknown): HandshakeError;

  /** Handles a handshake record (Server/ClientFinished). */
  protected abstract onHandshakeRecord(type: number, payload: Buffer): void;

  /** Called by subclasses when the handshake is complete. */
  protected open(info: HandshakeInfo): void {
    this.peerHasKeys = true;
    this.connState = 'open';
    this.recordLimit = maxRecordBody(info.suite, MAX_FRAGMENT);
    // An established session may well stay idle (a fleet of quiet links): its cipher contexts
    // are made again by the first record that needs them.
    this.releaseIdle();
    this.handler.established(info);
  }

  /**
   * Frees the record layer's cipher contexts (CBC suites: ~0.9 KiB of native memory per
   * direction) while the session is quiet; the next record in either direction makes its
   * context again from the key (~3 µs). Called when the handshake completes, and by the
   * session's keepalive when it pings a silent peer.
   */
  releaseIdle(): void {
    this.sealer?.release();
    this.opener?.release();
  }

  /** @internal A copy of the exporter (§D9) while open and not forgotten; else null. */
  exportSecret(): Buffer | null {
    return this.connState === 'open' && this.exporter ? Buffer.from(this.exporter) : null;
  }

  /** @internal Wipes the exporter (§D9) once its channel is made. */
  forgetExporter(): void {
    this.exporter?.fill(0);
    this.exporter = null;
  }

  protected get inHandshake(): boolean {
    return this.connState === 'handshake';
  }

  /** A whole frame from the frame reader (see FrameSink); not for applications. */
  acceptFrame(type: number, frame: Buffer): void {
    this.onFrame(type, frame);
  }

  protected onFrame(type: number, frame: Buffer): void {
    if (this.connState === 'closed') return;
    if (type === FrameType.Record && this.opener) {
      if (this.connState !== 'handshake') {
        this.awaitingAcceptance = false;
        this.#onRecord(frame);
        return;
      }
      // Until the handshake completes, a record that fails to open means the peer never had
      // the keys: a handshake failure, with one error whatever the cause (wrong key, bad RSA
      // ciphertext, replay, forgery all look alike).
      try {
        this.#onRecord(frame);
      } catch (err) {
        if (err instanceof SessionError && err.code !== ErrorCode.RECORD_AUTH) throw err;
        throw this.handshakeRecordRejected(err);
      }
      return;
    }
    if (type === FrameType.Alert && (this.connState === 'handshake' || this.awaitingAcceptance)) {
      throw errorForAlert(decodeAlertFrame(frame), true);
    }
    if (this.connState !== 'handshake') throw protocolError('plaintext frame after the handshake');
    this.onHandshakeFrame(type, frame);
  }

  #onRecord(frame: Buffer): void {
    const { type, payload } = this.opener!.open(frame);
    try {
      this.#onOpened(type, payload);
    } catch (err) {
      // The record ends the connection: a pool buffer it was opened into goes back, wiped,
      // unless its message went to the application first.
      if (!this.#handedOut) this.opener?.giveBack(payload);
      throw err;
    } finally {
      this.#handedOut = false;
    }
  }

  #onOpened(type: number, payload: Buffer): void {
    if (this.connState === 'handshake') {
      // The one record the handshake allows has arrived: whatever follows is an ordinary record.
      this.recordLimit = maxRecordBody(this.suite!, MAX_FRAGMENT);
      this.onHandshakeRecord(type, payload);
      return;
    }
    // After the peer's End, no Data, DataMore or DataBatch (0x01–0x03).
    if (this.receivedEnd && type >= RecordType.Data && type <= RecordType.DataBatch) {
      throw protocolError('a message after the end');
    }
    switch (type) {
      case RecordType.Data:
        this.#deliverFinal(payload);
        return;
      case RecordType.DataMore:
        this.#appendFragment(payload);
        return;
      case RecordType.DataBatch:
        // Its messages are views of it: never of a pool buffer one of them could give back.
        this.#deliverBatch(this.opener!.unpooled(payload));
        return;
      case RecordType.Close:
        this.#onClose(payload);
        return;
      case RecordType.Ping:
        if (payload.length > 64) throw protocolError('ping payload too large');
        if (!this.sentClose) {
          this.sendRecord(this.sealer!.seal(RecordType.Pong, payload));
          this.handler.replied?.();
        }
        return;
      case RecordType.Pong:
        if (payload.length > 64) throw protocolError('pong payload too large');
        this.handler.pong?.(payload);
        return;
      case RecordType.KeyUpdate:
        if (payload.length !== 0) throw protocolError('key update with a payload');
        this.opener!.update();
        this.handler.keyUpdated?.('receive', this.opener!.generation);
        return;
      case RecordType.Alert:
        throw errorForAlert(payload.length === 2 ? payload.readUInt16BE(0) : AlertCode.Internal);
      case RecordType.End:
        this.#onEnd(payload);
        return;
      default:
        this.onOtherRecord(type, payload, this.#reassembly.active);
    }
  }

  /** A record type not above (the client takes NewTicket, §6a): refused. */
  protected onOtherRecord(type: number, _payload: Buffer, _assembling: boolean): void {
    throw protocolError(`unexpected record type 0x${type.toString(16)}`);
  }

  /**
   * Gives back a delivered message nothing refers to any more: its memory, wiped, takes a
   * later large record (RecordOpener.recycle; until the first call, each gets a new buffer).
   */
  recycle(message: Buffer): void {
    this.opener?.recycle(message);
  }

  #appendFragment(payload: Buffer): void {
    if (!this.#reassembly.append(payload)) throw this.#tooLarge();
    // Copied into the message being assembled: its record's buffer may serve again.
    this.opener!.giveBack(payload);
  }

  #deliverFinal(payload: Buffer): void {
    if (!this.#reassembly.active) {
      if (payload.length > this.maxMessageSize) throw this.#tooLarge();
      this.#handedOut = true;
      this.handler.message(payload);
    } else {
      this.#appendFragment(payload);
      this.handler.message(this.#reassembly.take());
    }
    if (this.connState !== 'closed') this.handler.delivered?.();
  }

  #deliverBatch(payload: Buffer): void {
    // Checked whole first (batch.ts), so a malformed batch delivers nothing; then delivered.
    const problem = this.#reassembly.active ? 'malformed' : checkBatch(payload, this.maxMessageSize);
    if (problem === 'malformed') throw protocolError('malformed batch');
    if (problem === 'tooLarge') throw this.#tooLarge();
    const end = payload.length;
    // Each message a view of the opened record, made as cheaply as Node allows (BufferView).
    const bytes = payload.buffer;
    const base = payload.byteOffset;
    let at = 0;
    while (at < end && this.connState !== 'closed') {
      // A listener that transferred a message's ArrayBuffer took the rest of the record too.
      if (bytes.byteLength === 0) throw detachedByListener();
      const start = at + 4;
      at = start + readBatchLength(payload, at);
      this.handler.message(new BufferView(bytes, base + start, at - start));
    }
    if (this.connState !== 'closed') this.handler.delivered?.();
  }

  /**
   * The peer's End: it sends no more messages. If we have sent End too, both directions
   * are over: Close 1000 goes out first (unless ours already did), then the handler hears
   * of the End, and the peer's Close ends the connection as usual.
   */
  #onEnd(payload: Buffer): void {
    checkEnd(payload, this.receivedEnd, this.#reassembly.active);
    this.receivedEnd = true;
    if (this.sentEnd && !this.sentClose) this.close(CLOSE_NORMAL, '');
    this.handler.peerEnded?.();
  }

  #onClose(payload: Buffer): void {
    const { code, reason } = decodeClose(payload, this.#reassembly.active);
    if (!this.sentClose) {
      this.handler.flush?.();
      this.sentClose = true;
      const echo = Buffer.allocUnsafe(2);
      echo.writeUInt16BE(CLOSE_NORMAL);
      this.handler.send(this.sealer!.seal(RecordType.Close, echo));
    }
    this.#finish();
    this.handler.peerClosed(code, reason);
  }

  #finish(): void {
    this.connState = 'closed';
    this.dropBatch();
    this.#reassembly.clear();
    this.sealer?.destroy();
    this.opener?.destroy();
    this.exporter?.fill(0);
    this.exporter = null;
    this.psk?.fill(0);
    this.psk = null;
  }

  #tooLarge(): SessionError {
    return new SessionError(
      ErrorCode.MESSAGE_TOO_LARGE,
      `message exceeds maxMessageSize (${this.maxMessageSize} bytes)`,
    );
  }

  /** The frame reader's limit for a frame type (see FrameSink); not for applications. */
  frameLimit(type: number): number {
    if (type === FrameType.Record) return this.recordLimit;
    if (type === FrameType.Alert && (this.connState === 'handshake' || this.awaitingAcceptance)) return 2;
    if (this.connState !== 'handshake') return -1;
    return type >= FrameType.KeyRequest && type <= FrameType.ResumeRefused ? MAX_HANDSHAKE_FRAME : -1;
  }
}

function checkSize(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer`);
  }
  if (value < 1 || value > max) throw new RangeError(`${name} must be from 1 to ${max}`);
  return value;
}
