/**
 * The sans-IO connection: bytes in through `receive()`, bytes out through `handler.send()`,
 * messages and events through the handler. No sockets, timers or process state: the
 * transport (sdk/src/session.ts) drives it. This file holds what both roles share once keys
 * exist: fragmentation, batching, close, ping, key update and alerts.
 */
import { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import {
  AlertCode,
  BATCH_ENTRY_OVERHEAD,
  CLOSE_NORMAL,
  DEFAULT_MAX_FRAGMENT,
  DEFAULT_MAX_MESSAGE_SIZE,
  FrameType,
  MAX_CLOSE_REASON_BYTES,
  MAX_FRAGMENT,
  MAX_HANDSHAKE_FRAME,
  RecordType,
} from './constants.js';
import { secureRandom } from './crypto.js';
import type { RandomSource } from './crypto.js';
import { ErrorCode, HandshakeError, SessionError } from './errors.js';
import { FrameHeaderError, FrameReader } from './frame-reader.js';
import type { FrameSink } from './frame-reader.js';
import { decodeAlertFrame, encodeAlertFrame } from './handshake-messages.js';
import { DEFAULT_KEY_BUDGET, maxRecordBody } from './record-layer.js';
import type { KeyBudget, RecordOpener, RecordSealer } from './record-layer.js';
import type { Suite } from './suite.js';

/** What the handshake established, given to `handler.established`. */
export interface HandshakeInfo {
  readonly suite: Suite;
  /** The server's public key (the one the client used). */
  readonly serverKey: PublicKey;
  /** The client's public key, if the client authenticated; otherwise null. */
  readonly clientKey: PublicKey | null;
}

/** The transport's side of a connection. Every callback is invoked synchronously. */
export interface ConnectionHandler {
  /** Bytes to transmit, in order. The buffer is not reused by the connection. */
  send(data: Buffer): void;
  /** The handshake completed; messages may flow. */
  established(info: HandshakeInfo): void;
  /** One whole application message, exactly as the peer wrote it. */
  message(data: Buffer): void;
  /** The peer closed with an authenticated close. The connection already answered with its own. */
  peerClosed(code: number, reason: string): void;
  /** A pong answering one of our pings arrived. */
  pong?(payload: Buffer): void;
  /**
   * The connection wrote a reply the peer's record required of it (a Pong, just sent):
   * what the peer makes us write counts against the transport's bounds like any write, and
   * a transport whose peer does not read them should stop reading from it.
   */
  replied?(): void;
  /**
   * The peer's close arrived and ours is about to be sent: write anything still queued
   * now (with `write`/`writeMany`), or it will never be sent.
   */
  flush?(): void;
  /**
   * Every message of one record has been delivered (one `message` call, or one per message
   * of a batch): a good moment to send replies queued meanwhile, before the next record.
   */
  delivered?(): void;
}

/** Options both roles share. */
export interface ConnectionOptions {
  /** Largest message accepted from the peer, in bytes. Default 64 MiB. */
  readonly maxMessageSize?: number;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /** @internal Key budget; tests lower it to exercise key updates. */
  readonly keyBudget?: KeyBudget;
  /** @internal A fixed random source, for test vectors only. */
  readonly random?: RandomSource;
}

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

/** A batch entry's u32 length, read by hand (Buffer#readUInt32BE's checks cost more, per message). */
function readLength(buf: Buffer, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

const ALERT_FOR_CODE: Partial<Record<ErrorCode, AlertCode>> = {
  [ErrorCode.UNSUPPORTED_VERSION]: AlertCode.UnsupportedVersion,
  [ErrorCode.SUITE_MISMATCH]: AlertCode.SuiteMismatch,
  [ErrorCode.SERVER_KEY_MISMATCH]: AlertCode.UnknownServerKey,
  [ErrorCode.HANDSHAKE]: AlertCode.HandshakeFailed,
  [ErrorCode.RECORD_AUTH]: AlertCode.RecordRejected,
  [ErrorCode.RECORD_TOO_LARGE]: AlertCode.RecordRejected,
  [ErrorCode.MESSAGE_TOO_LARGE]: AlertCode.MessageTooLarge,
  [ErrorCode.PROTOCOL]: AlertCode.Protocol,
  [ErrorCode.NOT_AUTHORIZED]: AlertCode.NotAuthorized,
  [ErrorCode.CLIENT_KEY_UNSUPPORTED]: AlertCode.NotAuthorized,
  [ErrorCode.KEY_EXHAUSTED]: AlertCode.KeyExhausted,
  [ErrorCode.TIMEOUT]: AlertCode.Timeout,
  [ErrorCode.SERVER_BUSY]: AlertCode.ServerBusy,
};

const PEER_ALERT: Record<number, [ErrorCode, string]> = {
  [AlertCode.UnsupportedVersion]: [
    ErrorCode.UNSUPPORTED_VERSION,
    'peer does not support this protocol version',
  ],
  [AlertCode.SuiteMismatch]: [ErrorCode.SUITE_MISMATCH, 'server does not accept this algorithm set'],
  [AlertCode.UnknownServerKey]: [
    ErrorCode.SERVER_KEY_MISMATCH,
    'server does not hold the key the client trusts',
  ],
  [AlertCode.HandshakeFailed]: [ErrorCode.HANDSHAKE, 'peer reported a failed handshake'],
  [AlertCode.RecordRejected]: [ErrorCode.RECORD_AUTH, 'peer rejected a record'],
  [AlertCode.MessageTooLarge]: [ErrorCode.MESSAGE_TOO_LARGE, 'peer refused a message as too large'],
  [AlertCode.Protocol]: [ErrorCode.PROTOCOL, 'peer reported a protocol violation'],
  [AlertCode.NotAuthorized]: [ErrorCode.NOT_AUTHORIZED, 'server refused this client: not authorized'],
  [AlertCode.KeyExhausted]: [ErrorCode.KEY_EXHAUSTED, 'peer reported a key budget exceeded'],
  [AlertCode.Timeout]: [ErrorCode.TIMEOUT, 'peer timed out'],
  [AlertCode.ServerBusy]: [ErrorCode.SERVER_BUSY, 'server is busy; try again later'],
};

/** Errors that stand for an alert the peer sent: failing with one sends no alert back. */
const fromPeerAlert = new WeakSet<SessionError>();

/** The error a received alert code stands for; a HandshakeError while the handshake runs. */
export function errorForAlert(code: number, duringHandshake = false): SessionError {
  const [errCode, message] = PEER_ALERT[code] ?? [ErrorCode.PEER_ERROR, `peer failed (alert ${code})`];
  const error = duringHandshake
    ? new HandshakeError(errCode, `handshake: ${message}`)
    : new SessionError(errCode, message);
  fromPeerAlert.add(error);
  return error;
}

const EMPTY = Buffer.alloc(0);

/** Close reasons must be valid UTF-8: a fatal decoder throws on any bad sequence. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A batch buffer larger than this is released after each flush rather than kept. */
const MAX_KEPT_BATCH = 4096;

function protocolError(what: string): SessionError {
  return new SessionError(ErrorCode.PROTOCOL, `protocol: ${what}`);
}

export abstract class Connection implements FrameSink {
  protected readonly handler: ConnectionHandler;
  protected readonly random: RandomSource;
  protected readonly maxMessageSize: number;
  protected readonly maxFragment: number;
  protected readonly keyBudget: KeyBudget;
  protected sealer: RecordSealer | null = null;
  protected opener: RecordOpener | null = null;
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
  readonly #reader: FrameReader;
  #state: ConnectionState = 'handshake';
  #sentClose = false;
  /**
   * The message being reassembled from DataMore fragments, in one buffer that grows by
   * doubling (capped at maxMessageSize): memory follows the bytes received, never the
   * number of fragments (a flood of 1-byte fragments costs no per-fragment objects).
   */
  #reassembly: Buffer | null = null;
  #reassembled = 0;
  #assembling = false;
  /** Messages queued for the next batch record, as u32 length ‖ bytes entries. */
  #batch: Buffer = EMPTY;
  #batchLength = 0;
  #batchCount = 0;

  protected constructor(handler: ConnectionHandler, options: ConnectionOptions) {
    this.handler = handler;
    this.random = options.random ?? secureRandom;
    this.maxMessageSize = checkSize(
      'maxMessageSize',
      options.maxMessageSize,
      DEFAULT_MAX_MESSAGE_SIZE,
      0x7fffffff,
    );
    this.maxFragment = checkSize(
      'maxFragmentSize',
      options.maxFragmentSize,
      DEFAULT_MAX_FRAGMENT,
      MAX_FRAGMENT,
    );
    this.keyBudget = options.keyBudget ?? DEFAULT_KEY_BUDGET;
    this.#reader = new FrameReader(this);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.#reader.buffered + this.#reassembled;
  }

  /**
   * Feeds bytes from the peer. Throws a SessionError on any fatal condition; the caller then
   * calls {@link fail} and ends the transport.
   */
  receive(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    try {
      this.#reader.push(chunk);
    } catch (err) {
      if (err instanceof FrameHeaderError) throw this.#headerError(err);
      throw err;
    }
  }

  /** Sends one application message, fragmented into records as needed. */
  write(message: Buffer): void {
    this.#assertWritable();
    const sealer = this.sealer!;
    if (message.length <= this.maxFragment) {
      this.#emit(sealer.seal(RecordType.Data, message));
      return;
    }
    // A record sent may make the peer fail us synchronously (an in-memory peer): stop then.
    for (let at = 0; at < message.length && this.#state !== 'closed'; at += this.maxFragment) {
      const end = Math.min(at + this.maxFragment, message.length);
      const type = end === message.length ? RecordType.Data : RecordType.DataMore;
      this.#emit(sealer.seal(type, message.subarray(at, end)));
    }
  }

  /**
   * Sends several messages, packing runs of small ones into shared records (a DataBatch
   * record carries whole messages as u32 length ‖ bytes). The peer still receives each
   * message separately and in order. Same as `queue()` for each, then `flushQueued()`.
   */
  writeMany(messages: readonly Buffer[]): void {
    this.#assertWritable();
    for (const m of messages) {
      // A record sent may make the peer fail us synchronously (an in-memory peer): stop then.
      if (this.#state === 'closed') return;
      this.queue(m);
    }
    this.flushQueued();
  }

  /**
   * Adds one message to the pending batch: its bytes are copied now (the caller may reuse
   * its buffer), and a batch that would outgrow one record is sealed first. A message too
   * big for a batch entry flushes the batch and is sent at once, fragmented as needed, so
   * messages always leave in call order. Call `flushQueued()` to send what is pending.
   */
  queue(message: Buffer): void {
    this.#assertWritable();
    const need = BATCH_ENTRY_OVERHEAD + message.length;
    if (need > this.maxFragment) {
      this.flushQueued();
      if (this.#state !== 'closed') this.write(message);
      return;
    }
    if (this.#batchLength + need > this.maxFragment) {
      this.flushQueued();
      // Sending may have made a synchronous peer fail us: nothing more goes into a batch then.
      if (this.#state === 'closed') return;
    }
    this.#append(message, this.#batchLength + need);
  }

  /**
   * Queues `message` if it fits in the pending batch without sealing anything, and returns
   * true; otherwise (or if the connection is not writable) does nothing and returns false,
   * and the caller uses `queue()`. The writer's fast path: no record can come of it.
   */
  tryQueue(message: Buffer): boolean {
    if (this.#state !== 'open' || this.#sentClose) return false;
    const end = this.#batchLength + BATCH_ENTRY_OVERHEAD + message.length;
    if (end > this.maxFragment) return false;
    this.#append(message, end);
    return true;
  }

  /** Appends one batch entry (u32 length ‖ bytes) ending at `end`, growing the batch if needed. */
  #append(message: Buffer, end: number): void {
    let batch = this.#batch;
    if (batch.length < end) {
      // Grows by doubling up to one record: memory follows what is pending, not a fixed 64 KiB.
      const grown = Buffer.allocUnsafe(Math.min(this.maxFragment, Math.max(end, 2 * batch.length, 256)));
      batch.copy(grown, 0, 0, this.#batchLength);
      batch.fill(0, 0, this.#batchLength);
      this.#batch = batch = grown;
    }
    const at = this.#batchLength;
    const length = message.length;
    batch[at] = length >>> 24;
    batch[at + 1] = length >>> 16;
    batch[at + 2] = length >>> 8;
    batch[at + 3] = length;
    batch.set(message, at + BATCH_ENTRY_OVERHEAD);
    this.#batchLength = end;
    this.#batchCount += 1;
  }

  /** Bytes of queued messages not yet sealed (with their batch length prefixes). */
  get queuedBytes(): number {
    return this.#batchLength;
  }

  /** Seals the pending batch: one Data record for a lone message, else one DataBatch record. */
  flushQueued(): void {
    const count = this.#batchCount;
    if (count === 0) return;
    const length = this.#batchLength;
    const batch = this.#batch;
    this.#batchCount = 0;
    this.#batchLength = 0;
    try {
      if (this.#state === 'closed') return;
      const record =
        count === 1
          ? this.sealer!.seal(RecordType.Data, batch.subarray(BATCH_ENTRY_OVERHEAD, length))
          : this.sealer!.seal(RecordType.DataBatch, batch.subarray(0, length));
      this.#emit(record);
    } finally {
      // The batch held plaintext: wipe it, and let a large one go (idle sessions stay small).
      batch.fill(0, 0, length);
      if (batch.length > MAX_KEPT_BATCH) this.#batch = EMPTY;
    }
  }

  /** Sends a keepalive ping; the peer answers with a pong carrying the same payload (≤ 64 bytes). */
  ping(payload: Buffer = Buffer.alloc(0)): void {
    if (payload.length > 64) throw new RangeError('ping payload must be at most 64 bytes');
    this.#assertWritable();
    this.#emit(this.sealer!.seal(RecordType.Ping, payload));
  }

  /**
   * Sends an authenticated close. Messages the peer sent before it saw ours are still
   * delivered; the connection is closed when the peer's close arrives.
   */
  close(code: number = CLOSE_NORMAL, reason = ''): void {
    if (!Number.isInteger(code) || code < 0 || code > 0xffff) {
      throw new RangeError('close code must be an integer from 0 to 65535');
    }
    const reasonBytes = Buffer.from(reason, 'utf8');
    if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
      throw new RangeError(`close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`);
    }
    if (this.#sentClose || this.#state === 'closed') return;
    if (this.#state === 'handshake' || !this.sealer) {
      this.#finish();
      return;
    }
    const body = Buffer.allocUnsafe(2 + reasonBytes.length);
    body.writeUInt16BE(code);
    reasonBytes.copy(body, 2);
    this.#sentClose = true;
    this.#state = 'closing';
    this.#emit(this.sealer.seal(RecordType.Close, body));
  }

  /**
   * Ends the connection because of `error`, sending the peer an alert when one is safe and
   * useful: encrypted once keys exist, plaintext for version/suite/key failures before.
   * Record authentication failures and failed key confirmation send nothing the attacker
   * could learn from beyond the generic alert.
   */
  fail(error: unknown): void {
    if (this.#state === 'closed') return;
    const code =
      error instanceof SessionError
        ? fromPeerAlert.has(error)
          ? undefined
          : ALERT_FOR_CODE[error.code]
        : AlertCode.Internal;
    try {
      if (code !== undefined && !this.#sentClose) {
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
    this.#state = 'open';
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

  protected get inHandshake(): boolean {
    return this.#state === 'handshake';
  }

  /** @internal A whole frame from the frame reader (see FrameSink). */
  acceptFrame(type: number, frame: Buffer): void {
    this.onFrame(type, frame);
  }

  protected onFrame(type: number, frame: Buffer): void {
    if (this.#state === 'closed') return;
    if (type === FrameType.Record && this.opener) {
      if (this.#state !== 'handshake') {
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
    if (type === FrameType.Alert && (this.#state === 'handshake' || this.awaitingAcceptance)) {
      throw errorForAlert(decodeAlertFrame(frame), true);
    }
    if (this.#state !== 'handshake') throw protocolError('plaintext frame after the handshake');
    this.onHandshakeFrame(type, frame);
  }

  #onRecord(frame: Buffer): void {
    const { type, payload } = this.opener!.open(frame);
    if (this.#state === 'handshake') {
      // The one record the handshake allows has arrived: whatever follows is an ordinary record.
      this.recordLimit = maxRecordBody(this.suite!, MAX_FRAGMENT);
      this.onHandshakeRecord(type, payload);
      return;
    }
    switch (type) {
      case RecordType.Data:
        this.#deliverFinal(payload);
        return;
      case RecordType.DataMore:
        this.#appendFragment(payload);
        return;
      case RecordType.DataBatch:
        this.#deliverBatch(payload);
        return;
      case RecordType.Close:
        this.#onClose(payload);
        return;
      case RecordType.Ping:
        if (payload.length > 64) throw protocolError('ping payload too large');
        if (!this.#sentClose) {
          this.#emit(this.sealer!.seal(RecordType.Pong, payload));
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
        return;
      case RecordType.Alert:
        throw errorForAlert(payload.length === 2 ? payload.readUInt16BE(0) : AlertCode.Internal);
      default:
        throw protocolError(`unexpected record type 0x${type.toString(16)}`);
    }
  }

  #appendFragment(payload: Buffer): void {
    const need = this.#reassembled + payload.length;
    if (need > this.maxMessageSize) throw this.#tooLarge();
    this.#assembling = true;
    const current = this.#reassembly;
    if (!current || current.length < need) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.maxMessageSize, Math.max(need, 2 * (current?.length ?? 0), MAX_FRAGMENT)),
      );
      current?.copy(grown, 0, 0, this.#reassembled);
      this.#reassembly = grown;
    }
    payload.copy(this.#reassembly!, this.#reassembled);
    this.#reassembled = need;
  }

  #deliverFinal(payload: Buffer): void {
    if (!this.#assembling) {
      if (payload.length > this.maxMessageSize) throw this.#tooLarge();
      this.handler.message(payload);
    } else {
      this.#appendFragment(payload);
      const message = this.#reassembly!.subarray(0, this.#reassembled);
      this.#reassembly = null;
      this.#reassembled = 0;
      this.#assembling = false;
      this.handler.message(message);
    }
    if (this.#state !== 'closed') this.handler.delivered?.();
  }

  #deliverBatch(payload: Buffer): void {
    if (this.#assembling || payload.length === 0) throw protocolError('malformed batch');
    // Check every length first so a malformed batch delivers nothing; then deliver.
    const end = payload.length;
    let at = 0;
    while (at < end) {
      if (end - at < 4) throw protocolError('malformed batch');
      const len = readLength(payload, at);
      if (len > end - at - 4) throw protocolError('malformed batch');
      if (len > this.maxMessageSize) throw this.#tooLarge();
      at += 4 + len;
    }
    at = 0;
    while (at < end && this.#state !== 'closed') {
      const start = at + 4;
      at = start + readLength(payload, at);
      this.handler.message(payload.subarray(start, at));
    }
    if (this.#state !== 'closed') this.handler.delivered?.();
  }

  #onClose(payload: Buffer): void {
    if (payload.length < 2 || payload.length > 2 + MAX_CLOSE_REASON_BYTES) {
      throw protocolError('malformed close');
    }
    // A Close inside a fragmented message would end the session "normally" with a message cut
    // short: truncation must always be detectable.
    if (this.#assembling) throw protocolError('close between the fragments of a message');
    const code = payload.readUInt16BE(0);
    let reason: string;
    try {
      reason = UTF8.decode(payload.subarray(2));
    } catch {
      throw protocolError('malformed close (reason is not UTF-8)');
    }
    if (!this.#sentClose) {
      this.handler.flush?.();
      this.#sentClose = true;
      const echo = Buffer.allocUnsafe(2);
      echo.writeUInt16BE(CLOSE_NORMAL);
      this.handler.send(this.sealer!.seal(RecordType.Close, echo));
    }
    this.#finish();
    this.handler.peerClosed(code, reason);
  }

  #emit(record: Buffer): void {
    this.handler.send(record);
    // After our Close nothing more is sent, not even a KeyUpdate the Close made due.
    if (this.#state === 'closed' || this.#sentClose) return;
    const sealer = this.sealer!;
    if (sealer.needsUpdate) {
      this.handler.send(sealer.seal(RecordType.KeyUpdate, Buffer.alloc(0)));
      sealer.update();
    }
  }

  #assertWritable(): void {
    if (this.#state === 'handshake') {
      throw new SessionError(
        ErrorCode.SESSION_CLOSED,
        'session is not open yet: the handshake is not complete',
      );
    }
    if (this.#state !== 'open' || this.#sentClose) {
      throw new SessionError(ErrorCode.SESSION_CLOSED, 'session is closed');
    }
  }

  #finish(): void {
    this.#state = 'closed';
    this.#batch.fill(0, 0, this.#batchLength);
    this.#batch = EMPTY;
    this.#batchLength = 0;
    this.#batchCount = 0;
    this.#reassembly = null;
    this.#reassembled = 0;
    this.#assembling = false;
    this.sealer?.destroy();
    this.opener?.destroy();
  }

  #tooLarge(): SessionError {
    return new SessionError(
      ErrorCode.MESSAGE_TOO_LARGE,
      `message exceeds maxMessageSize (${this.maxMessageSize} bytes)`,
    );
  }

  /** @internal The frame reader's limit for a frame type (see FrameSink). */
  frameLimit(type: number): number {
    if (type === FrameType.Record) return this.recordLimit;
    if (type === FrameType.Alert && (this.#state === 'handshake' || this.awaitingAcceptance)) return 2;
    if (this.#state !== 'handshake') return -1;
    return type >= FrameType.KeyRequest && type <= FrameType.ServerHello ? MAX_HANDSHAKE_FRAME : -1;
  }

  #headerError(err: FrameHeaderError): SessionError {
    if (this.#state === 'handshake' && err.type === FrameType.Record && !this.suite) {
      // A record before any keys exist (a replayed stream sent in one piece): not a record
      // problem, a handshake out of order.
      return new HandshakeError(
        ErrorCode.HANDSHAKE,
        'handshake: record received before the keys were agreed',
      );
    }
    if (this.#state === 'handshake' && err.type === FrameType.Record) {
      // Keys exist but the peer has not confirmed them: a first record longer than its
      // Finished can be is a failed handshake (plaintext HandshakeFailed), not a record error.
      return new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: record too large for this step');
    }
    if (this.#state === 'handshake') {
      return new HandshakeError(
        ErrorCode.HANDSHAKE,
        err.reason === 'type'
          ? 'handshake: unexpected data from peer (not a secsess handshake message)'
          : 'handshake: handshake message too large',
      );
    }
    if (err.reason === 'type' && err.type !== FrameType.Record) {
      return protocolError('unexpected frame type');
    }
    return new SessionError(ErrorCode.RECORD_TOO_LARGE, 'record length exceeds the limit');
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
